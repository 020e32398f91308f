//! One XMPP connection of the traffic: its socket, its send schedule and
//! its windows, in one `select!` loop, as Confab's in `traffic::conn` but
//! with stanzas for frames and nothing to ack or confirm.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::XmppPlan;
use crate::client::ws::Ws;
use crate::client::xmpp::stanza::{self, Chat, Stanza};
use crate::scenario::Body;
use crate::scenario::traffic::schedule::Schedule;
use crate::scenario::traffic::{Outcome, Read, Shared};

/// How long the closing steps (`<close/>`, the close frame) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One connection's state while it runs.
struct Conn {
    shared: Arc<Shared>,
    sink: SplitSink<Ws, Message>,
    index: usize,
    /// Message ids are `{run_tag}.{seq}`.
    run_tag: String,
    to: String,
    body_bytes: usize,
    out: Outcome,
    next_seq: u64,
    schedule: Schedule,
}

/// Runs one connection until the driver stops it (or the socket fails).
pub(super) async fn run(plan: XmppPlan, shared: Arc<Shared>) -> Outcome {
    let XmppPlan {
        ws,
        index,
        run_tag,
        to,
        rate,
        body_bytes,
    } = plan;
    let (sink, mut stream) = ws.split();
    let mut conn = Conn {
        shared: shared.clone(),
        sink,
        index,
        run_tag,
        to,
        body_bytes,
        out: Outcome {
            sender: Some(index),
            ..Outcome::default()
        },
        next_seq: 0,
        schedule: Schedule::new(rate, index),
    };
    let mut sending = true;
    loop {
        tokio::select! {
            biased;
            () = shared.stop.cancelled() => break,
            frame = stream.next() => {
                let open = match Read::of(frame, &mut conn.out.correctness) {
                    Read::Text(text) => conn.on_text(text.as_str()),
                    Read::Nothing => true,
                    Read::Ended => false,
                };
                if !open {
                    break;
                }
            }
            () = shared.stop_sending.cancelled(), if sending => sending = false,
            due = conn.schedule.tick(), if sending => {
                conn.schedule.owe(shared.clock.at(due));
            }
            // Slots are given back by the partner on receipt.
            () = shared.windows.acquire(index), if sending && conn.schedule.ready() => {
                if !conn.send_one().await {
                    break;
                }
            }
        }
    }
    conn.close().await
}

impl Conn {
    /// Writes the next message; false if the socket failed.
    async fn send_one(&mut self) -> bool {
        let sent = self.schedule.take(self.shared.clock.now());
        let seq = self.next_seq;
        self.next_seq += 1;
        let body = Body {
            sender: self.index,
            seq,
            sent,
        }
        .encode(self.body_bytes);
        // No confirm will come: the write is the answer, and the partner
        // owes one delivery.
        self.out.confirmed.push(seq);
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        self.shared.answered.fetch_add(1, Ordering::Relaxed);
        self.shared.expected.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}.{seq}", self.run_tag);
        let element = stanza::chat(&self.to, &id, &body);
        if let Err(e) = self.sink.send(Message::text(element)).await {
            self.out.correctness.error(format!("socket error: {e}"));
            return false;
        }
        true
    }

    /// Handles one element; false if the stream ended.
    fn on_text(&mut self, text: &str) -> bool {
        match Stanza::parse(text) {
            // Left offline by an earlier run: not this run's traffic.
            Ok(Stanza::Message(Chat { id, .. }))
                if !id.as_deref().is_some_and(|id| self.is_ours(id)) =>
            {
                true
            }
            Ok(Stanza::Message(Chat {
                error: None, body, ..
            })) => {
                match body.as_deref().and_then(Body::decode) {
                    Some(body) => self.on_message(body),
                    None => self.out.correctness.error("a message without a bench body"),
                }
                true
            }
            Ok(Stanza::Message(Chat {
                error: Some(condition),
                body,
                ..
            })) => {
                self.out
                    .correctness
                    .error(format!("message bounced: {condition}"));
                // Ours came back: it will not arrive, its slots are free.
                if body.as_deref().and_then(Body::decode).is_some() {
                    self.shared.windows.release(self.index);
                }
                true
            }
            Ok(Stanza::StreamError(condition)) => {
                self.out
                    .correctness
                    .error(format!("stream error: {condition}"));
                false
            }
            Ok(Stanza::Close) => {
                self.out.correctness.error("stream closed by the server");
                false
            }
            Ok(_) => true,
            Err(_) => {
                self.out.correctness.error("unreadable element");
                true
            }
        }
    }

    /// Whether message `id` was sent in this run.
    fn is_ours(&self, id: &str) -> bool {
        id.strip_prefix(self.run_tag.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    }

    /// A message from the partner: counted once, its latency from its body.
    fn on_message(&mut self, body: Body) {
        if body.sender != self.index ^ 1 {
            self.out
                .correctness
                .error("a message from someone not the partner");
            return;
        }
        if !self.out.received.insert(body.seq) {
            self.out.correctness.duplicated += 1;
            return;
        }
        let now = self.shared.clock.now();
        self.out.e2e.record_nanos(now.saturating_sub(body.sent));
        self.shared.delivered(now, body.sender, true);
    }

    /// `<close/>`, a close frame, and the outcome.
    async fn close(mut self) -> Outcome {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = self.sink.send(Message::text(stanza::close())).await;
            let _ = self.sink.send(Message::Close(None)).await;
        })
        .await;
        self.out.fell_behind = self.schedule.fell_behind;
        self.out.late = std::mem::take(&mut self.schedule.late);
        self.out
    }
}
