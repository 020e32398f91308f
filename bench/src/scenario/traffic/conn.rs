//! One connection of the traffic: its socket, its send schedule, its window
//! and its acks, in one `select!` loop.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use super::{Outcome, Plan, SendPlan, Shared, tick};
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
    /// Scheduled send times not yet sent (fixed rate only).
    owed: VecDeque<u64>,
}

pub(super) async fn run(plan: Plan, shared: Arc<Shared>) -> Outcome {
    let Plan { ws, send, witness } = plan;
    let (sink, mut stream): (_, SplitStream<Ws>) = ws.split();
    let window = send.as_ref().map(|s| shared.windows[s.index].clone());
    let mut rate = send.as_ref().and_then(|s| s.rate).map(|r| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(0.001)));
        // Keep the schedule: missed ticks fire at once (and count as late).
        interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
        interval
    });
    let max_owed = send
        .as_ref()
        .and_then(|s| s.rate)
        .map_or(0, |r| (r.ceil() as usize).max(1));
    let mut ack_timer = tokio::time::interval(ACK_EVERY);
    ack_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn = Conn {
        out: Outcome {
            sender: send.as_ref().map(|s| s.index),
            ..Outcome::default()
        },
        shared: shared.clone(),
        sink,
        send,
        witness,
        pending: HashMap::new(),
        next_id: 0,
        acks: Vec::new(),
        owed: VecDeque::new(),
    };
    let mut sending = conn.send.is_some();
    let fixed_rate = rate.is_some();

    loop {
        tokio::select! {
            biased;
            () = shared.stop.cancelled() => break,
            frame = stream.next() => {
                let open = match frame {
                    Some(Ok(Message::Text(text))) => conn.on_text(text.as_str()).await,
                    Some(Ok(Message::Close(close))) => {
                        let code = close.map_or(1005, |c| u16::from(c.code));
                        conn.out.correctness.error(format!("closed by the server ({code})"));
                        false
                    }
                    Some(Ok(_)) => true,
                    Some(Err(e)) => {
                        conn.out.correctness.error(format!("socket error: {e}"));
                        false
                    }
                    None => {
                        conn.out.correctness.error("connection ended");
                        false
                    }
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
            due = tick(&mut rate), if sending => {
                // The scheduled time, not the time the tick was seen.
                conn.owed.push_back(shared.clock.at(due));
                if conn.owed.len() > max_owed {
                    conn.owed.pop_front();
                    conn.out.fell_behind += 1;
                }
            }
            permit = acquire(window.as_deref()), if sending && (!fixed_rate || !conn.owed.is_empty()) => {
                if let Some(permit) = permit {
                    // Given back by the witness on receipt (or on refusal).
                    permit.forget();
                }
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
        let sent = self.owed.pop_front().unwrap_or(now);
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
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                    self.shared.last_delivery.fetch_max(now, Ordering::Relaxed);
                    self.shared.timeline.add(1);
                    if self.witness
                        && let Some(window) = self.shared.windows.get(body.sender)
                    {
                        window.add_permits(1);
                    }
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
                        self.shared.windows[plan.index].add_permits(1);
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

/// A slot of an optional window (at once, without one).
async fn acquire(window: Option<&Semaphore>) -> Option<SemaphorePermit<'_>> {
    match window {
        Some(window) => window.acquire().await.ok(),
        None => None,
    }
}
