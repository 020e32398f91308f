//! Everything a connection writes goes through its [`Writer`]: answers,
//! pings, the close frame, notices and messages. Messages have one path
//! whether they come from a replay page or from the hub: encoded once
//! ([`Encoded`]) and written in each conversation's `seq` order, each once.
//! The writer knows how far it has written every conversation, so:
//! - a message at or below that is a repeat (by the replay and live, or
//!   redelivered after a failover) and is dropped;
//! - a live message past the next `seq` means deliveries were missed: the
//!   writer stops and asks for a catch-up from the log, which has them all;
//! - a message this connection sent, or its device sent before the
//!   connection opened (a previous connection of it got `sent`), is never
//!   written back to it, but the connection is now that far. What another
//!   live connection of the same device sends is written, as live copies
//!   are. (Nothing here acks: only the client's own acks move its device's
//!   position, so a position never claims a message the client did not get.)
//!
//! The writer also remembers where the messages it wrote lately sit
//! ([`Unacked`]), so that the client's acks of them become positions here
//! ([`Writer::resolve`]) and are written one per device and conversation,
//! without Postgres looking each message up.

use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};

use confab_common::log::{Logged, Positions};
use confab_common::metric::Stage;
use confab_common::wire::ServerFrame;
use confab_common::{ConvId, DeviceName, MessageId, Seq, UserId, metric};
use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;

use crate::delivery::acks::Resolved;
use crate::delivery::hub::{Encoded, Outbound};
use crate::ws::recent::RecentIds;
use crate::ws::replay::Page;
use crate::ws::unacked::Unacked;

/// Deliveries written before one flush.
const WRITE_BATCH: usize = 64;

/// The socket is gone: nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// What a batch of deliveries asked for besides messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterWrite {
    /// Go on with the next delivery.
    Continue,
    /// Read the logs again before any later delivery.
    CatchUp,
}

/// Where a message stands for this connection.
enum Place {
    /// Written already (or its own): drop it.
    Repeat,
    /// The next in its conversation.
    Next,
    /// Past the next: some were missed.
    Gap,
}

/// The write half of a connection.
#[derive(Debug)]
pub struct Writer<W> {
    sink: W,
    /// How far each conversation has been written (or passed, for the
    /// device's own messages).
    positions: HashMap<ConvId, Seq>,
    /// The connection's user and device, and when it opened (Unix ms):
    /// what the device sent before is passed.
    user: UserId,
    device: DeviceName,
    opened_at: i64,
    /// What this connection sent lately: passed.
    sent: RecentIds,
    /// The messages written and not yet acked, and where they sit.
    unacked: Unacked,
}

impl<W> Writer<W>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    /// The writer of a connection of `user`'s `device`, opening now.
    pub fn new(sink: W, user: UserId, device: DeviceName) -> Self {
        Self {
            sink,
            positions: HashMap::new(),
            user,
            device,
            opened_at: confab_common::ids::now_ms(),
            sent: RecentIds::default(),
            unacked: Unacked::default(),
        }
    }

    /// Where the messages `acked` sit, for those this writer wrote lately.
    pub fn resolve(&mut self, acked: Vec<MessageId>) -> Resolved {
        self.unacked.resolve(acked)
    }

    /// Notes that this connection sent `msg_id` (it is never written back).
    pub fn sent(&mut self, msg_id: MessageId) {
        self.sent.insert(msg_id);
    }

    /// Whether `logged` is this connection's own: it sent it, or its device
    /// did before the connection opened.
    fn own(&self, logged: &Logged) -> bool {
        let m = &logged.message;
        self.sent.contains(m.msg_id)
            || (m.from == self.user
                && logged.sender_device.as_ref() == Some(&self.device)
                && m.ts < self.opened_at)
    }

    /// Where the connection stands in each conversation it has seen.
    pub fn positions(&self) -> Positions {
        self.positions.iter().map(|(&c, &s)| (c, s)).collect()
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

    /// Writes the messages of a page that this connection has not seen yet
    /// (starting from where the device stood, for the first page); returns
    /// how many.
    pub async fn page(&mut self, page: &Page) -> Result<u64, Gone> {
        for &(conv, seq) in page.opened.iter().flatten() {
            let at = self.positions.entry(conv).or_insert(seq);
            *at = (*at).max(seq);
        }
        let mut written = 0;
        for logged in &page.messages {
            let encoded = Encoded::new(logged.conv, &logged.message);
            // The log has no gaps: a page follows on from the positions it
            // was read from, so anything new is next.
            if !matches!(self.place(&encoded), Place::Repeat) {
                self.positions.insert(encoded.conv, encoded.seq);
                if !self.own(logged) {
                    self.feed(&encoded).await?;
                    written += 1;
                }
            }
        }
        self.sink.flush().await.map_err(|_| Gone)?;
        Ok(written)
    }

    /// Writes `first` and whatever the hub queued behind it (up to a batch),
    /// then flushes. Stops at a catch-up request or a gap, which must be
    /// served before any later delivery.
    pub async fn deliveries(
        &mut self,
        first: Outbound,
        queue: &mut mpsc::Receiver<Outbound>,
    ) -> Result<AfterWrite, Gone> {
        let mut next = Some(first);
        let mut written = 0;
        // The read times of the messages written, recorded once flushed.
        let mut traced = Vec::new();
        let then = loop {
            let Some(item) = next.take() else {
                break AfterWrite::Continue;
            };
            match item {
                Outbound::CatchUp => break AfterWrite::CatchUp,
                Outbound::Notice(text) => {
                    self.sink
                        .feed(Message::Text(Utf8Bytes::clone(&text)))
                        .await
                        .map_err(|_| Gone)?;
                    written += 1;
                }
                Outbound::Own(message) => match self.place(&message) {
                    Place::Repeat => {}
                    Place::Gap => break AfterWrite::CatchUp,
                    Place::Next => {
                        self.positions.insert(message.conv, message.seq);
                    }
                },
                Outbound::Message(message) => match self.place(&message) {
                    Place::Repeat => {}
                    Place::Gap => break AfterWrite::CatchUp,
                    Place::Next => {
                        self.positions.insert(message.conv, message.seq);
                        self.feed(&message).await?;
                        written += 1;
                        metrics::counter!(metric::MESSAGES_DELIVERED).increment(1);
                        let latency_ms = confab_common::ids::now_ms()
                            .saturating_sub(message.ts)
                            .max(0);
                        metrics::histogram!(metric::DELIVERY_LATENCY_SECONDS)
                            .record(latency_ms as f64 / 1000.0);
                        if let Some(read_us) = message.read_us {
                            traced.push(read_us);
                        }
                    }
                },
            }
            if written < WRITE_BATCH {
                next = queue.try_recv().ok();
            }
        };
        let then = self.flush(then).await?;
        Stage::Written.reached_all(traced);
        Ok(then)
    }

    fn place(&self, message: &Encoded) -> Place {
        // A conversation never seen started after the connection did.
        let at = self.positions.get(&message.conv).copied().unwrap_or(Seq(0));
        if message.seq <= at {
            Place::Repeat
        } else if message.seq == at.next() {
            Place::Next
        } else {
            Place::Gap
        }
    }

    async fn feed(&mut self, message: &Encoded) -> Result<(), Gone> {
        (self.unacked).written(message.msg_id, message.conv, message.seq);
        self.sink
            .feed(Message::Text(message.text.clone()))
            .await
            .map_err(|_| Gone)
    }

    async fn flush(&mut self, then: AfterWrite) -> Result<AfterWrite, Gone> {
        self.sink.flush().await.map_err(|_| Gone)?;
        Ok(then)
    }
}

#[cfg(test)]
mod tests;
