//! Everything a connection writes goes through its [`Writer`]: answers,
//! pings, the close frame and messages. Messages have one path whether they
//! come from a replay page or from the hub: encoded once
//! ([`Encoded`]), and written once per connection — a message that
//! arrives twice (by the replay and live, or redelivered after a failover)
//! is dropped the second time.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use confab_common::metric;
use confab_common::wire::ServerFrame;
use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;

use crate::delivery::hub::{Encoded, Outbound};
use crate::ws::recent::RecentIds;
use crate::ws::replay::Page;

/// Deliveries written before one flush.
const WRITE_BATCH: usize = 64;

/// The socket is gone: nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// What a batch of deliveries asked for besides messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Go on with the next delivery.
    Continue,
    /// Read the inbox again before any later delivery.
    CatchUp,
}

/// The write half of a connection.
#[derive(Debug)]
pub struct Writer<W> {
    sink: W,
    /// The ids of the messages written lately.
    recent: RecentIds,
}

impl<W> Writer<W>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    pub fn new(sink: W) -> Self {
        Self {
            sink,
            recent: RecentIds::default(),
        }
    }

    /// Writes one frame now.
    pub async fn frame(&mut self, frame: &ServerFrame) -> Result<(), Gone> {
        let text = Message::Text(frame.to_json().into());
        self.sink.send(text).await.map_err(|_| Gone)
    }

    /// A WebSocket ping.
    pub async fn ping(&mut self) -> Result<(), Gone> {
        let ping = Message::Ping(Default::default());
        self.sink.send(ping).await.map_err(|_| Gone)
    }

    /// Closes with `code` and `reason` (best effort: the peer may be gone).
    pub async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
    }

    /// Writes the messages of a replayed page that this connection has not
    /// seen yet; returns how many.
    pub async fn page(&mut self, page: &Page) -> Result<u64, Gone> {
        let mut written = 0;
        for (_, message) in page {
            if self.message(&Encoded::new(message)).await? {
                written += 1;
            }
        }
        self.sink.flush().await.map_err(|_| Gone)?;
        Ok(written)
    }

    /// Writes `first` and whatever the hub queued behind it (up to a batch),
    /// then flushes. Stops at a catch-up request, which must be served
    /// before any later delivery.
    pub async fn deliveries(
        &mut self,
        first: Outbound,
        queue: &mut mpsc::Receiver<Outbound>,
    ) -> Result<Then, Gone> {
        let mut next = Some(first);
        let mut then = Then::Continue;
        let mut written = 0;
        while let Some(item) = next.take() {
            let Outbound::Message(message) = item else {
                then = Then::CatchUp;
                break;
            };
            if self.message(&message).await? {
                written += 1;
                metrics::counter!(metric::MESSAGES_DELIVERED).increment(1);
                let latency_ms = confab_common::ids::now_ms()
                    .saturating_sub(message.ts)
                    .max(0);
                metrics::histogram!(metric::DELIVERY_LATENCY_SECONDS)
                    .record(latency_ms as f64 / 1000.0);
            }
            if written < WRITE_BATCH {
                next = queue.try_recv().ok();
            }
        }
        self.sink.flush().await.map_err(|_| Gone)?;
        Ok(then)
    }

    /// Queues a message unless this connection wrote it already; true if
    /// it was new.
    async fn message(&mut self, message: &Encoded) -> Result<bool, Gone> {
        if !self.recent.insert(message.msg_id) {
            return Ok(false);
        }
        self.sink
            .feed(Message::Text(message.text.clone()))
            .await
            .map_err(|_| Gone)?;
        Ok(true)
    }
}
