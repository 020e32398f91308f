//! Simulated users: registered and befriended over REST, then each keeps a
//! WebSocket open like a real client would — reconnecting with backoff and
//! jitter, re-sending every unconfirmed message with its same client id,
//! acking what it received — and chats in two conversations (its friend, its
//! group), one message in flight per conversation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::Cluster;
use crate::ledger::{Key, Ledger};
use crate::wire::{conversation_of, send, ws_request};

/// Users per group.
const GROUP_SIZE: usize = 10;

/// One simulated user.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub id: i64,
    pub token: String,
    pub friend: i64,
    pub group: i64,
}

/// Everyone, and the groups' members.
#[derive(Debug)]
pub struct Population {
    pub users: Vec<SimUser>,
    pub groups: HashMap<i64, Vec<i64>>,
}

impl Population {
    /// Who must receive what each user sends: (sender, conversation) to
    /// recipients, for the ledger.
    pub fn audience(&self) -> Vec<((i64, String), Vec<i64>)> {
        let mut audience = Vec::with_capacity(self.users.len() * 2);
        for user in &self.users {
            audience.push(((user.id, format!("u{}", user.friend)), vec![user.friend]));
            let members: Vec<i64> = self.groups[&user.group]
                .iter()
                .copied()
                .filter(|&m| m != user.id)
                .collect();
            audience.push(((user.id, format!("g{}", user.group)), members));
        }
        audience
    }
}

async fn call(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

async fn befriend(
    http: &reqwest::Client,
    base: &str,
    a: &SimUser,
    b: &SimUser,
) -> anyhow::Result<()> {
    let request = call(
        http,
        format!("{base}/api/friends/requests"),
        Some(&a.token),
        json!({"user_id": b.id}),
    )
    .await?;
    let id = request["id"].as_i64().context("request id")?;
    call(
        http,
        format!("{base}/api/friends/requests/{id}/accept"),
        Some(&b.token),
        json!({}),
    )
    .await?;
    Ok(())
}

impl Population {
    /// Registers `n` users (rounded down to whole groups), pairs them as
    /// friends and puts them in groups of ten (the first of each befriends the
    /// rest and creates the group).
    pub async fn create(cluster: &Cluster, n: usize) -> anyhow::Result<Self> {
        let n = (n / GROUP_SIZE).max(1) * GROUP_SIZE;
        let http = reqwest::Client::new();
        let base = cluster.base_url();
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut users = Vec::with_capacity(n);
        for i in 0..n {
            let body = call(
                &http,
                format!("{base}/api/auth/register"),
                None,
                json!({"username": format!("f{}-{i}", &run[..8]), "password": "fault-harness"}),
            )
            .await?;
            users.push(SimUser {
                id: body["user"]["id"].as_i64().context("user id")?,
                token: body["token"].as_str().context("token")?.to_owned(),
                friend: 0,
                group: 0,
            });
        }
        for pair in 0..n / 2 {
            let (a, b) = (users[2 * pair].clone(), users[2 * pair + 1].clone());
            befriend(&http, &base, &a, &b).await?;
            users[2 * pair].friend = b.id;
            users[2 * pair + 1].friend = a.id;
        }
        let mut groups = HashMap::new();
        for chunk in 0..n / GROUP_SIZE {
            let members: Vec<SimUser> =
                users[chunk * GROUP_SIZE..(chunk + 1) * GROUP_SIZE].to_vec();
            let owner = &members[0];
            for other in &members[1..] {
                if other.id != owner.friend {
                    befriend(&http, &base, owner, other).await?;
                }
            }
            let ids: Vec<i64> = members[1..].iter().map(|m| m.id).collect();
            let group = call(
                &http,
                format!("{base}/api/groups"),
                Some(&owner.token),
                json!({"name": format!("g{chunk}"), "member_ids": ids}),
            )
            .await?;
            let group_id = group["id"].as_i64().context("group id")?;
            for user in &mut users[chunk * GROUP_SIZE..(chunk + 1) * GROUP_SIZE] {
                user.group = group_id;
            }
            groups.insert(group_id, members.iter().map(|m| m.id).collect());
        }
        Ok(Self { users, groups })
    }

    /// Starts every user's client, connecting through the gateway; each
    /// starts a new message per conversation at most every `interval` (one
    /// in flight per conversation).
    pub fn start(&self, cluster: &Cluster, ledger: Ledger, interval: Duration) -> Traffic {
        let flags = Flags::default();
        let mut tasks = JoinSet::new();
        for user in &self.users {
            let client = Client {
                user: user.clone(),
                gateway: cluster.gateway_addr(),
                interval,
                ledger: ledger.clone(),
                flags: flags.clone(),
            };
            tasks.spawn(client.run());
        }
        Traffic { flags, tasks }
    }
}

/// Switches shared by every client.
#[derive(Debug, Clone, Default)]
struct Flags {
    sending: Arc<AtomicBool>,
    dropping: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// The running clients.
#[derive(Debug)]
pub struct Traffic {
    flags: Flags,
    tasks: JoinSet<()>,
}

impl Traffic {
    /// Whether users start new messages (unconfirmed ones are re-sent regardless).
    pub fn set_sending(&self, on: bool) {
        self.flags.sending.store(on, Ordering::SeqCst);
    }

    /// Whether clients drop their connection between receiving and acking.
    pub fn set_dropping(&self, on: bool) {
        self.flags.dropping.store(on, Ordering::SeqCst);
    }

    /// Stops every client.
    pub async fn stop(mut self) {
        self.flags.stop.store(true, Ordering::SeqCst);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// One conversation's sending state.
#[derive(Debug)]
struct Conversation {
    target: String,
    to: Value,
    next_seq: u64,
    in_flight: Option<(String, Key)>,
    retry_at: Option<tokio::time::Instant>,
}

struct Client {
    user: SimUser,
    gateway: String,
    /// The least time between two new messages of a conversation.
    interval: Duration,
    ledger: Ledger,
    flags: Flags,
}

impl Client {
    async fn run(self) {
        let mut conversations = [
            Conversation {
                target: format!("u{}", self.user.friend),
                to: json!({"user": self.user.friend}),
                next_seq: 1,
                in_flight: None,
                retry_at: None,
            },
            Conversation {
                target: format!("g{}", self.user.group),
                to: json!({"group": self.user.group}),
                next_seq: 1,
                in_flight: None,
                retry_at: None,
            },
        ];
        let mut backoff = Duration::from_millis(100);
        let url = format!("ws://{}/ws", self.gateway);
        while !self.flags.stop.load(Ordering::SeqCst) {
            let Ok(request) = ws_request(&url, &self.user.token) else {
                return; // only a token that is not a header value
            };
            match tokio_tungstenite::connect_async(request).await {
                Ok((ws, _)) => {
                    backoff = Duration::from_millis(100);
                    self.ledger.connected(self.user.id);
                    self.session(ws, &mut conversations).await;
                    self.ledger.disconnected(self.user.id);
                }
                Err(_) => {
                    let jitter =
                        Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 2));
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// One connection, until it drops.
    async fn session(
        &self,
        mut ws: tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        conversations: &mut [Conversation; 2],
    ) {
        // Whatever was in flight goes again, with its same client id.
        for c in conversations.iter() {
            if let Some((id, key)) = &c.in_flight
                && send(&mut ws, id, &c.to, key).await.is_err()
            {
                return;
            }
        }
        let mut tick = tokio::time::interval(self.interval / 10);
        let mut since_new = [tokio::time::Instant::now(); 2];
        let mut acks: Vec<String> = Vec::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if self.flags.stop.load(Ordering::SeqCst) {
                        let _ = ws.close(None).await;
                        return;
                    }
                    if !acks.is_empty() {
                        let frame = json!({"type": "ack", "msg_ids": acks});
                        acks = Vec::new();
                        if ws.send(Message::text(frame.to_string())).await.is_err() {
                            return;
                        }
                    }
                    let now = tokio::time::Instant::now();
                    for (i, c) in conversations.iter_mut().enumerate() {
                        if let Some((id, key)) = &c.in_flight {
                            if c.retry_at.is_some_and(|t| t <= now) {
                                c.retry_at = None;
                                if send(&mut ws, id, &c.to, key).await.is_err() {
                                    return;
                                }
                            }
                        } else if self.flags.sending.load(Ordering::SeqCst) && now.duration_since(since_new[i]) >= self.interval {
                            since_new[i] = now;
                            let key: Key = (self.user.id, c.target.clone(), c.next_seq);
                            let id = format!("{}-{}-{}", self.user.id, c.target, c.next_seq);
                            c.next_seq += 1;
                            self.ledger.sent(key.clone());
                            c.in_flight = Some((id.clone(), key.clone()));
                            if send(&mut ws, &id, &c.to, &key).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                frame = ws.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    let Message::Text(text) = frame else { continue };
                    let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                    match frame["type"].as_str() {
                        Some("sent") => {
                            let id = frame["id"].as_str().unwrap_or_default();
                            for c in conversations.iter_mut() {
                                if c.in_flight.as_ref().is_some_and(|(i, _)| i == id)
                                    && let Some((_, key)) = c.in_flight.take()
                                {
                                    self.ledger.confirmed(key, frame["msg_id"].as_str().unwrap_or_default().to_owned());
                                    c.retry_at = None;
                                }
                            }
                        }
                        Some("error") => {
                            // unavailable, rate_limited: the same id again, later.
                            if frame["code"] == "unavailable" {
                                self.ledger.unavailable();
                            }
                            let id = frame["id"].as_str().unwrap_or_default();
                            for c in conversations.iter_mut() {
                                if c.in_flight.as_ref().is_some_and(|(i, _)| i == id) {
                                    c.retry_at = Some(tokio::time::Instant::now() + Duration::from_millis(300));
                                }
                            }
                        }
                        Some("message") => {
                            let msg_id = frame["msg_id"].as_str().unwrap_or_default().to_owned();
                            if let (Some(conv), Some(seq)) = (conversation_of(self.user.id, &frame), frame["seq"].as_i64()) {
                                self.ledger.logged(self.user.id, conv, seq, &msg_id);
                            }
                            self.ledger.received(self.user.id, &msg_id, frame["body"].as_str().unwrap_or_default());
                            if self.flags.dropping.load(Ordering::SeqCst) && fastrand::u8(0..100) < 5 {
                                // Gone between delivery and ack.
                                return;
                            }
                            acks.push(msg_id);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
