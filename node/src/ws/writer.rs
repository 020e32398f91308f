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
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};

use confab_common::log::{Logged, Positions};
use confab_common::metric::Stage;
use confab_common::wire::ServerFrame;
use confab_common::{ConvId, MessageId, Seq, UserId, metric};
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
    device: Arc<str>,
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
    pub fn new(sink: W, user: UserId, device: Arc<str>) -> Self {
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
                && logged.sender_device.as_deref() == Some(&*self.device)
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
mod tests {
    use std::convert::Infallible;

    use confab_common::MessageId;
    use confab_common::wire::{MessagePayload, Target};
    use futures_util::sink::SinkExt;

    use super::*;

    /// Message `seq` of conversation `conv` (its id is `conv * 100 + seq`).
    fn logged(conv: i64, seq: i64) -> Logged {
        Logged {
            conv: ConvId(conv),
            message: MessagePayload {
                msg_id: MessageId(conv * 100 + seq),
                from: UserId(1),
                to: Target::User(UserId(2)),
                body: format!("c{conv}s{seq}"),
                ts: 0,
                seq: Some(Seq(seq)),
            },
            sender_device: None,
        }
    }

    /// Where `writer` stands, as plain numbers in conversation order.
    fn standing<W>(writer: &Writer<W>) -> Vec<(i64, i64)>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let mut at: Vec<_> = writer.positions().iter().map(|(c, s)| (c.0, s.0)).collect();
        at.sort_unstable();
        at
    }

    /// The writer of user 1's device `phone`.
    fn writer<W: Sink<Message, Error = axum::Error> + Unpin>(sink: W) -> Writer<W> {
        Writer::new(sink, UserId(1), Arc::from("phone"))
    }

    fn live(conv: i64, seq: i64) -> Outbound {
        let l = logged(conv, seq);
        Outbound::Message(Arc::new(Encoded::new(l.conv, &l.message)))
    }

    fn own(conv: i64, seq: i64) -> Outbound {
        let l = logged(conv, seq);
        Outbound::Own(Arc::new(Encoded::new(l.conv, &l.message)))
    }

    fn written(sink: &[Message]) -> Vec<String> {
        sink.iter()
            .map(|m| match m {
                Message::Text(text) => {
                    let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                    frame["body"].as_str().unwrap_or("notice").to_owned()
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    async fn deliver(
        writer: &mut Writer<impl Sink<Message, Error = axum::Error> + Unpin>,
        items: Vec<Outbound>,
    ) -> Vec<AfterWrite> {
        let (tx, mut queue) = mpsc::channel(16);
        let mut thens = Vec::new();
        for item in items {
            tx.try_send(item).unwrap();
        }
        while let Ok(first) = queue.try_recv() {
            thens.push(writer.deliveries(first, &mut queue).await.unwrap());
        }
        thens
    }

    #[tokio::test]
    async fn each_conversation_is_written_in_seq_order_once_from_where_the_device_stood() {
        let mut out = Vec::new();
        let sink = (&mut out).sink_map_err(|e: Infallible| match e {});
        let mut writer = writer(sink);
        // The device had conversation 1 up to 1 and conversation 2 up to 5.
        let page = Page {
            opened: Some(vec![(ConvId(1), Seq(1)), (ConvId(2), Seq(5))]),
            messages: vec![logged(1, 2), logged(1, 3)],
        };
        assert_eq!(writer.page(&page).await, Ok(2));
        // Live: a repeat of what the replay wrote, the next of each
        // conversation, a conversation started since (seq 1), a notice.
        let thens = deliver(
            &mut writer,
            vec![
                live(1, 3),
                live(1, 4),
                live(2, 6),
                live(3, 1),
                Outbound::Notice(Arc::new("{}".into())),
            ],
        )
        .await;
        assert_eq!(thens, [AfterWrite::Continue]);
        assert_eq!(standing(&writer), [(1, 4), (2, 6), (3, 1)]);
        drop(writer);
        assert_eq!(
            written(&out),
            ["c1s2", "c1s3", "c1s4", "c2s6", "c3s1", "notice"]
        );
    }

    #[tokio::test]
    async fn a_gap_stops_the_batch_for_a_catch_up_and_the_devices_own_messages_are_passed() {
        let mut out = Vec::new();
        let sink = (&mut out).sink_map_err(|e: Infallible| match e {});
        let mut writer = writer(sink);
        let opened = Page {
            opened: Some(vec![(ConvId(1), Seq(0))]),
            messages: vec![],
        };
        assert_eq!(writer.page(&opened).await, Ok(0));
        // Seq 1 was this connection's own; seq 3 shows that 2 was missed.
        let thens = deliver(&mut writer, vec![own(1, 1), live(1, 3), live(1, 4)]).await;
        assert_eq!(thens, [AfterWrite::CatchUp, AfterWrite::CatchUp]);
        assert_eq!(standing(&writer), [(1, 1)]);
        // The catch-up reads the log after 1. Passed: what this device sent
        // before the connection opened (seq 5), what this connection sent
        // (seq 7). Written: what another device of the user sent (seq 4),
        // what another connection of this device sent since (seq 6).
        let mut caught_up: Vec<Logged> = (2..=7).map(|seq| logged(1, seq)).collect();
        caught_up[2].sender_device = Some("laptop".into());
        caught_up[3].sender_device = Some("phone".into());
        caught_up[4].sender_device = Some("phone".into());
        caught_up[4].message.ts = i64::MAX;
        writer.sent(MessageId(107));
        let page = Page {
            opened: None,
            messages: caught_up,
        };
        assert_eq!(writer.page(&page).await, Ok(4));
        assert_eq!(standing(&writer), [(1, 7)]);
        drop(writer);
        assert_eq!(written(&out), ["c1s2", "c1s3", "c1s4", "c1s6"]);
    }
}
