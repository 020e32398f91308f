//! One connection of the traffic: its socket, its send schedule
//! ([`super::schedule`]), its windows ([`super::window`]) and its acks, in
//! one `select!` loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use super::schedule::Schedule;
use super::{Outcome, Plan, Read, SendPlan, Shared};
use crate::client::ws::{ServerFrame, Ws, ack_frame, msg_id, send_frame};
use crate::scenario::Body;

/// How often gathered acks are written.
const ACK_EVERY: Duration = Duration::from_millis(20);
/// Acks written at once when they pile up faster.
const ACK_BATCH: usize = 500;
/// How long the closing steps (last acks, close frame) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One connection's state while it runs.
struct Conn {
    shared: Arc<Shared>,
    sink: SplitSink<Ws, Message>,
    send: Option<SendPlan>,
    witness: bool,
    out: Outcome,
    /// Client id → when it was written, for sends not yet answered.
    pending: HashMap<u64, u64>,
    next_id: u64,
    acks: Vec<u64>,
    schedule: Schedule,
}

pub(super) async fn run(plan: Plan, shared: Arc<Shared>) -> Outcome {
    let Plan { ws, send, witness } = plan;
    let (sink, mut stream): (_, SplitStream<Ws>) = ws.split();
    let sender = send.as_ref().map(|s| s.index);
    let mut ack_timer = tokio::time::interval(ACK_EVERY);
    ack_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn = Conn {
        out: Outcome {
            sender,
            ..Outcome::default()
        },
        shared: shared.clone(),
        sink,
        schedule: Schedule::new(send.as_ref().and_then(|s| s.rate), sender.unwrap_or(0)),
        send,
        witness,
        pending: HashMap::new(),
        next_id: 0,
        acks: Vec::new(),
    };
    let mut sending = sender.is_some();

    loop {
        tokio::select! {
            biased;
            () = shared.stop.cancelled() => break,
            frame = stream.next() => {
                let open = match Read::of(frame, &mut conn.out.correctness) {
                    Read::Text(text) => conn.on_text(text.as_str()).await,
                    Read::Nothing => true,
                    Read::Ended => false,
                };
                if !open {
                    break;
                }
            }
            _ = ack_timer.tick(), if !conn.acks.is_empty() => {
                if !conn.flush_acks().await {
                    break;
                }
            }
            () = shared.stop_sending.cancelled(), if sending => sending = false,
            due = conn.schedule.tick(), if sending => {
                // The scheduled time, not the time the tick was seen.
                conn.schedule.owe(shared.clock.at(due));
            }
            // Slots are given back by the witness on receipt (or on refusal).
            () = shared.windows.acquire(sender.unwrap_or_default()), if sending && conn.schedule.ready() => {
                if !conn.send_one().await {
                    break;
                }
            }
        }
    }
    conn.close().await
}

impl Conn {
    /// Writes the next `send`; false if the socket failed.
    async fn send_one(&mut self) -> bool {
        let Some(plan) = &self.send else {
            return true;
        };
        let now = self.shared.clock.now();
        let sent = self.schedule.take(now);
        let id = self.next_id;
        self.next_id += 1;
        let body = Body {
            sender: plan.index,
            seq: id,
            sent,
        }
        .encode(plan.body_bytes);
        let frame = send_frame(id, plan.to, &body);
        self.pending.insert(id, now);
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.sink.send(Message::text(frame)).await {
            self.out.correctness.error(format!("socket error: {e}"));
            return false;
        }
        true
    }

    /// Handles one text frame; false if the socket failed.
    async fn on_text(&mut self, text: &str) -> bool {
        let clock = self.shared.clock;
        match ServerFrame::parse(text) {
            Ok(ServerFrame::Sent { id, msg_id: m }) => {
                if let Some(at) = id.parse().ok().and_then(|id| self.pending.remove(&id)) {
                    self.out.confirm.record_nanos(clock.since(at));
                    self.shared.answered.fetch_add(1, Ordering::Relaxed);
                    if let Some(plan) = &self.send {
                        self.shared
                            .expected
                            .fetch_add(plan.fanout, Ordering::Relaxed);
                    }
                }
                match msg_id(&m) {
                    Ok(m) => self.out.confirmed.push(m),
                    Err(_) => self.out.correctness.error("unreadable msg_id"),
                }
            }
            Ok(ServerFrame::Message { msg_id: m, body }) => {
                let Ok(m) = msg_id(&m) else {
                    self.out.correctness.error("unreadable msg_id");
                    return true;
                };
                self.acks.push(m);
                if !self.out.received.insert(m) {
                    self.out.correctness.duplicated += 1;
                } else if let Some(body) = Body::decode(&body) {
                    let now = clock.now();
                    self.out.e2e.record_nanos(now.saturating_sub(body.sent));
                    self.shared.delivered(now, body.sender, self.witness);
                }
                if self.acks.len() >= ACK_BATCH {
                    return self.flush_acks().await;
                }
            }
            Ok(ServerFrame::Error { id, code }) => {
                self.out.correctness.error(code);
                let refused = id
                    .and_then(|id| id.parse().ok())
                    .and_then(|id| self.pending.remove(&id));
                if refused.is_some() {
                    self.shared.answered.fetch_add(1, Ordering::Relaxed);
                    // This one will not arrive: its slot is free again.
                    if let Some(plan) = &self.send {
                        self.shared.windows.release(plan.index);
                    }
                }
            }
            Ok(ServerFrame::Pong | ServerFrame::Other) => {}
            Err(_) => self.out.correctness.error("unreadable frame"),
        }
        true
    }

    /// Writes the gathered acks; false if the socket failed.
    async fn flush_acks(&mut self) -> bool {
        for chunk in self.acks.chunks(1000) {
            if let Err(e) = self.sink.send(Message::text(ack_frame(chunk))).await {
                self.out.correctness.error(format!("socket error: {e}"));
                return false;
            }
        }
        self.acks.clear();
        true
    }

    /// Last acks, a close frame, and the outcome.
    async fn close(mut self) -> Outcome {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if !self.acks.is_empty() {
                self.flush_acks().await;
            }
            let _ = self.sink.send(Message::Close(None)).await;
        })
        .await;
        self.out.fell_behind = self.schedule.fell_behind;
        self.out.late = std::mem::take(&mut self.schedule.late);
        if !self.pending.is_empty() {
            *self
                .out
                .correctness
                .errors
                .entry("unanswered sends".to_owned())
                .or_default() += self.pending.len() as u64;
        }
        self.out
    }
}
