//! Every device of a user converges: some users have a second device (the
//! `tablet`), opened once before the traffic starts and then away. After the
//! last fault it connects and is written everything it missed; what it holds
//! of each conversation must be what the user's chatting device holds (what
//! it received, and what it sent and had confirmed), in the same `seq` order,
//! with each message at the same `seq` on both.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::ledger::{DeviceView, Ledger};
use crate::user::SimUser;
use crate::wire::{conversation_of, ws_request};

/// The second device's name.
const TABLET: &str = "tablet";
/// One user in this many has a tablet.
const EVERY: usize = 5;
/// Longest wait for a tablet's replay.
const REPLAY_WAIT: Duration = Duration::from_secs(60);

/// The users who have a tablet.
pub fn sample(users: &[SimUser]) -> Vec<SimUser> {
    users.iter().step_by(EVERY).cloned().collect()
}

/// Opens each user's tablet once (the server then knows it, with every
/// conversation from the start) and closes it.
pub async fn open_tablets(users: &[SimUser], node: &str) -> anyhow::Result<()> {
    for user in users {
        replay(user, node).await?;
    }
    Ok(())
}

/// What a device connecting as `user`'s tablet is written before the answer
/// to a `ping` (the end of its replay), by conversation; and which of those
/// messages the user sent.
async fn replay(user: &SimUser, node: &str) -> anyhow::Result<(DeviceView, HashSet<String>)> {
    let url = format!("ws://{node}/ws?device={TABLET}");
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&url, &user.token)?)
        .await
        .context("connecting a tablet")?;
    ws.send(Message::text(json!({"type": "ping"}).to_string()))
        .await?;
    let mut view = DeviceView::new();
    let mut own = HashSet::new();
    let read = async {
        while let Some(frame) = ws.next().await {
            let Message::Text(text) = frame? else {
                continue;
            };
            let frame: Value = serde_json::from_str(text.as_str())?;
            match frame["type"].as_str() {
                Some("pong") => return Ok(()),
                Some("message") => {
                    let conv =
                        conversation_of(user.id, &frame).context("a message's conversation")?;
                    let seq = frame["seq"].as_i64().context("a message's seq")?;
                    let msg_id = frame["msg_id"].as_str().unwrap_or_default().to_owned();
                    if frame["from"].as_i64() == Some(user.id) {
                        own.insert(msg_id.clone());
                    }
                    view.entry(conv).or_default().push((seq, msg_id));
                }
                _ => {}
            }
        }
        bail!("the tablet's connection closed before its replay ended")
    };
    tokio::time::timeout(REPLAY_WAIT, read)
        .await
        .context("a tablet's replay did not end in time")??;
    let _ = ws.close(None).await;
    Ok((view, own))
}

/// The comparison of two devices of every sampled user.
#[derive(Debug, Default)]
pub struct Verdict {
    pub users: usize,
    pub messages: usize,
    /// Messages one device has and the other has not, or at another seq.
    pub differ: usize,
    /// Conversations a device got out of `seq` order (or, for the tablet's
    /// replay, with a gap).
    pub disordered: usize,
}

impl Verdict {
    pub fn violated(&self) -> bool {
        self.differ > 0 || self.disordered > 0
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "devices: {} users, {} messages compared on two devices each: {} differ, {} conversations out of order{}",
            self.users,
            self.messages,
            self.differ,
            self.disordered,
            if self.violated() {
                "  << VIOLATION"
            } else {
                ""
            }
        )
    }
}

/// Connects every sampled user's tablet and compares it with their
/// chatting device.
pub async fn check(users: &[SimUser], node: &str, ledger: &Ledger) -> anyhow::Result<Verdict> {
    let mut verdict = Verdict::default();
    for user in users {
        let (tablet, tablet_own) = replay(user, node).await?;
        let (phone, sent) = ledger.view_of(user.id);
        verdict.users += 1;
        let convs: HashSet<&String> = tablet
            .keys()
            .chain(phone.keys())
            .chain(sent.keys())
            .collect();
        for conv in convs {
            let empty = Vec::new();
            let on_tablet = tablet.get(conv).unwrap_or(&empty);
            let on_phone = dedup(phone.get(conv).unwrap_or(&empty));
            // The log has no gaps and the tablet started before it: 1, 2, 3, …
            let seqs: Vec<i64> = on_tablet.iter().map(|(s, _)| *s).collect();
            if seqs.iter().enumerate().any(|(i, &s)| s != i as i64 + 1) {
                verdict.disordered += 1;
            }
            if on_phone.windows(2).any(|w| w[0].0 >= w[1].0) {
                verdict.disordered += 1;
            }
            let tablet_at: HashMap<&String, i64> = on_tablet.iter().map(|(s, m)| (m, *s)).collect();
            let phone_at: HashMap<&String, i64> = on_phone.iter().map(|(s, m)| (m, *s)).collect();
            let own: HashSet<String> = sent.get(conv).cloned().unwrap_or_default();
            verdict.messages += on_tablet.len();
            // Everything the phone received is on the tablet at the same seq.
            verdict.differ += phone_at
                .iter()
                .filter(|(m, s)| tablet_at.get(*m) != Some(*s))
                .count();
            // Everything it sent and had confirmed is on the tablet.
            verdict.differ += own.iter().filter(|m| !tablet_at.contains_key(m)).count();
            // Everything on the tablet the phone received, or sent: only its
            // own sends whose `sent` it had not read when the traffic
            // stopped may be unknown to it.
            verdict.differ += on_tablet
                .iter()
                .filter(|(_, m)| !phone_at.contains_key(m) && !tablet_own.contains(m))
                .count();
        }
    }
    Ok(verdict)
}

/// `seqs` with repeats of a message id dropped (first arrival kept).
fn dedup(seqs: &[(i64, String)]) -> Vec<(i64, String)> {
    let mut seen = HashSet::new();
    seqs.iter()
        .filter(|(_, m)| seen.insert(m.clone()))
        .cloned()
        .collect()
}
