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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use confab_common::wire::{MessagePayload, Target};
    use confab_common::{MessageId, UserId};
    use futures_util::sink::SinkExt;

    use super::*;

    fn message(msg_id: i64) -> MessagePayload {
        MessagePayload {
            msg_id: MessageId(msg_id),
            from: UserId(1),
            to: Target::User(UserId(2)),
            body: format!("m{msg_id}"),
            ts: 0,
        }
    }

    fn written(sink: &[Message]) -> Vec<String> {
        sink.iter()
            .map(|m| match m {
                Message::Text(text) => {
                    let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                    frame["body"].as_str().unwrap_or_default().to_owned()
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn replayed_and_live_copies_of_a_message_are_written_once() {
        let mut out = Vec::new();
        let sink = (&mut out).sink_map_err(|e: Infallible| match e {});
        let mut writer = Writer::new(sink);
        let page: Page = vec![(1, message(1)), (2, message(2))];
        assert_eq!(writer.page(&page).await, Ok(2));
        // The replay read message 2 before its live copy arrived.
        let (tx, mut queue) = mpsc::channel(8);
        for item in [
            Outbound::Message(Encoded::new(&message(3))),
            Outbound::CatchUp,
            Outbound::Message(Encoded::new(&message(4))),
        ] {
            tx.try_send(item).unwrap();
        }
        let first = Outbound::Message(Encoded::new(&message(2)));
        let then = writer.deliveries(first, &mut queue).await;
        // The catch-up stops the batch: message 4 must wait for it.
        assert_eq!(then, Ok(Then::CatchUp));
        assert!(matches!(queue.try_recv(), Ok(Outbound::Message(m)) if m.msg_id == MessageId(4)));
        assert_eq!(writer.page(&page).await, Ok(0));
        drop(writer);
        assert_eq!(written(&out), ["m1", "m2", "m3"]);
    }
}
