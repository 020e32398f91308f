//! The node's side of a connection under test, in memory: its log (a
//! replay that waits for the test's word), a broker whose confirms the test
//! gives, presence, signals, rate and revocations that let everything
//! through, the real hub; and the client's side, two channels standing for
//! the socket's halves (axum's `testing-websockets` way).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use confab_common::log::{Logged, Positions};
use confab_common::presence::ConnKey;
use confab_common::wire::{ErrorCode, ServerFrame, Target};
use confab_common::{ConvId, DeviceName, MessageId, NodeId, Seq, UserId};
use futures_util::future::BoxFuture;
use futures_util::{sink, stream};
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::WsLimits;
use crate::delivery::acks;
use crate::delivery::hub::Hub;
use crate::send::signal::{Signalled, Signalling};
use crate::send::{Requests, SendInFlight, SendRequest, Sender, Sends};
use crate::ws::connection::serve;
use crate::ws::context::{ConnectionContext, Online, RevokedSessions, SendRate};
use crate::ws::replay::Logs;

/// The connection's user.
pub const ME: UserId = UserId(1);
/// Who wrote the logged messages.
pub const FRIEND: UserId = UserId(2);
/// The conversation of every message here.
pub const CONV: ConvId = ConvId(1);
/// How long a test waits for a frame before it fails (a guard against a
/// hang, never a verdict).
const PATIENCE: Duration = Duration::from_secs(10);

/// The log of [`CONV`]. Reads wait for a turn, which there is none of until
/// the test allows them ([`Log::allow`]), so a test can act while the
/// replay runs.
#[derive(Debug)]
pub struct Log {
    messages: Vec<Logged>,
    turns: Semaphore,
    /// Told when the device is opened: the connection is registered by
    /// then, and its replay has begun.
    opened: mpsc::UnboundedSender<()>,
}

impl Log {
    pub fn allow(&self) {
        self.turns.add_permits(1);
    }
}

impl Logs for Log {
    fn open_device<'a>(
        &'a self,
        _user: UserId,
        _device: &'a DeviceName,
        _max_devices: u64,
    ) -> BoxFuture<'a, Result<Positions, DbErr>> {
        let _ = self.opened.send(());
        Box::pin(std::future::ready(Ok(vec![(CONV, Seq(0))])))
    }

    fn page<'a>(
        &'a self,
        _user: UserId,
        _device: &'a DeviceName,
        known: &'a Positions,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Logged>, DbErr>> {
        Box::pin(async move {
            let _turn = self
                .turns
                .acquire()
                .await
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            let after = known
                .iter()
                .find(|(c, _)| *c == CONV)
                .map_or(Seq(0), |(_, s)| *s);
            let page = self.messages.iter().filter(|l| l.message.seq > Some(after));
            Ok(page.take(limit as usize).cloned().collect())
        })
    }
}

/// A broker that takes every send at once and confirms it when the test
/// says: each send's client id and its confirm go to the test.
#[derive(Debug)]
struct Broker {
    confirms: mpsc::UnboundedSender<(String, oneshot::Sender<()>)>,
}

impl Sends for Broker {
    fn run_until_closed(
        &self,
        _sender: Sender,
        mut requests: Requests,
        answers: mpsc::Sender<SendInFlight>,
    ) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut next_id = 1000;
            while let Some((SendRequest { id, .. }, _)) = requests.recv().await {
                let (confirm, confirmed) = oneshot::channel();
                let _ = self.confirms.send((id.clone(), confirm));
                next_id += 1;
                let msg_id = MessageId(next_id);
                let answer = Box::pin(async move {
                    match confirmed.await {
                        Ok(()) => ServerFrame::Sent { id, msg_id, ts: 0 },
                        Err(_) => ServerFrame::error(Some(id), ErrorCode::Unavailable, "lost"),
                    }
                });
                let in_flight = SendInFlight {
                    msg_id: Some(msg_id),
                    answer,
                };
                if answers.send(in_flight).await.is_err() {
                    break;
                }
            }
        })
    }
}

/// Presence, signals, the rate and revocations, all of which let
/// everything through and tell nobody.
#[derive(Debug)]
struct Allowed;

impl Online for Allowed {
    fn connect(&self, _: UserId, _: ConnKey) -> BoxFuture<'_, redis::RedisResult<bool>> {
        Box::pin(std::future::ready(Ok(false)))
    }

    fn disconnect(
        &self,
        _: UserId,
        _: ConnKey,
        _: bool,
    ) -> BoxFuture<'_, redis::RedisResult<bool>> {
        Box::pin(std::future::ready(Ok(false)))
    }
}

impl Signalling for Allowed {
    fn read(self: Arc<Self>, _: UserId, _: ConnKey, _: Target, _: Seq) -> Signalled {
        Box::pin(std::future::ready(Ok(())))
    }

    fn typing(self: Arc<Self>, _: UserId, _: ConnKey, _: Target) -> Signalled {
        Box::pin(std::future::ready(Ok(())))
    }

    fn presence(self: Arc<Self>, _: UserId, _: bool) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

impl SendRate for Allowed {
    fn send_wait(&self, _: UserId) -> Option<Duration> {
        None
    }
}

impl RevokedSessions for Allowed {
    fn is_revoked(&self, _: &uuid::Uuid) -> bool {
        false
    }
}

/// The node's side of one connection.
pub struct Node {
    pub hub: Arc<Hub>,
    pub log: Arc<Log>,
    /// Once per opened device.
    opened: mpsc::UnboundedReceiver<()>,
    /// Each send handed to the broker, with its confirm.
    confirms: mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>,
    pub shutdown: CancellationToken,
}

/// The client's side: its frames in, what the connection writes out.
pub struct Client {
    frames: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    written: mpsc::UnboundedReceiver<Message>,
    /// The connection's task: ends once it is closed and unregistered.
    served: JoinHandle<()>,
}

/// Connects [`ME`] to a node whose log holds `messages` and whose hub
/// queues `queue` frames per connection.
pub fn connect(messages: Vec<Logged>, queue: usize) -> (Node, Client) {
    let (opened_tx, opened) = mpsc::unbounded_channel();
    let (confirms_tx, confirms) = mpsc::unbounded_channel();
    let log = Arc::new(Log {
        messages,
        turns: Semaphore::new(0),
        opened: opened_tx,
    });
    let hub = Arc::new(Hub::new(NodeId(1), 1, queue));
    let shutdown = CancellationToken::new();
    // Acks are not under test: their writer never runs.
    let (acks, _writer) = acks::writer(DatabaseConnection::default());
    let ctx = ConnectionContext {
        user: ME,
        hub: hub.clone(),
        presence: Arc::new(Allowed),
        session: uuid::Uuid::nil(),
        device: DeviceName::stored("phone"),
        sends: Arc::new(Broker {
            confirms: confirms_tx,
        }),
        signals: Arc::new(Allowed),
        acks,
        logs: log.clone(),
        replays: Arc::new(Semaphore::new(1)),
        ws: limits(),
        revocations: Arc::new(Allowed),
        rate: Arc::new(Allowed),
        shutdown: shutdown.clone(),
    };
    let (frames, from_client) = mpsc::unbounded_channel();
    let (to_client, written) = mpsc::unbounded_channel();
    let reader = Box::pin(stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    }));
    let sink = Box::pin(sink::unfold(to_client, |tx, message: Message| async move {
        tx.send(message)
            .map_err(|_| axum::Error::new("the client is gone"))?;
        Ok::<_, axum::Error>(tx)
    }));
    let served = tokio::spawn(serve(ctx, reader, sink));
    let node = Node {
        hub,
        log,
        opened,
        confirms,
        shutdown,
    };
    let client = Client {
        frames,
        written,
        served,
    };
    (node, client)
}

/// Limits that stay out of the way: no ping within a test.
fn limits() -> WsLimits {
    WsLimits {
        max_frame_bytes: 64 * 1024,
        max_body_chars: 4096,
        ping_interval: Duration::from_secs(3600),
        replay_page: 100,
        max_invalid_frames: 10,
        throttled_close: Duration::from_secs(60),
        max_connections_per_user: 10,
        devices_per_user: 10,
    }
}

impl Node {
    /// Waits until the connection opened its device: it is registered in
    /// the hub, and its replay waits for the log.
    pub async fn replaying(&mut self) {
        self.opened.recv().await.expect("the device is opened");
    }

    /// The next send handed to the broker, and its confirm.
    pub async fn handed_over(&mut self) -> (String, oneshot::Sender<()>) {
        self.confirms
            .recv()
            .await
            .expect("a send reaches the broker")
    }
}

impl Client {
    pub fn send(&self, frame: Value) {
        let text = Message::Text(frame.to_string().into());
        self.frames.send(Ok(text)).expect("the connection reads");
    }

    /// The next frame written, in short: a message's body, `pong`,
    /// `sent <id>`, `close <code>`.
    pub async fn next(&mut self) -> String {
        let written = tokio::time::timeout(PATIENCE, self.written.recv()).await;
        match written.expect("a frame in time") {
            Some(Message::Text(text)) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                match frame["type"].as_str().unwrap() {
                    "message" => frame["body"].as_str().unwrap().to_owned(),
                    "sent" => format!("sent {}", frame["id"].as_str().unwrap()),
                    other => other.to_owned(),
                }
            }
            Some(Message::Close(Some(close))) => format!("close {}", close.code),
            other => format!("{other:?}"),
        }
    }

    pub async fn take(&mut self, n: usize) -> Vec<String> {
        let mut frames = Vec::with_capacity(n);
        for _ in 0..n {
            frames.push(self.next().await);
        }
        frames
    }

    /// Waits for the connection's task to end.
    pub async fn ended(self) {
        let served = tokio::time::timeout(PATIENCE, self.served).await;
        served.expect("the connection ends in time").unwrap();
    }
}
