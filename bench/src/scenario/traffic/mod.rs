//! The traffic loop `direct` and `group` share. Each connection is one task
//! that `select!`s over its socket, its send schedule and its ack timer:
//!
//! - **Sending** (if it is a sender): a `send` whenever its window has room
//!   (closed loop) or, with a rate, at each tick of its schedule. The body
//!   carries the send time; at a fixed rate it carries the *scheduled* time,
//!   so a client that falls behind shows as latency instead of hiding it.
//! - **Window**: each sender may have `in_flight` messages sent but not yet
//!   received by its witness (in `direct` the partner, in `group` one chosen
//!   member), and, with a shared window, all senders together at most
//!   `window`; the witness opens the windows again on receipt ([`window`]).
//! - **Receiving**: every `message` is acked (in batches), counted once per
//!   `msg_id` (repeats are duplicates), and its latency taken from its body.
//!
//! The driver stops the sends after the duration, waits (bounded) until every
//! send is answered and every confirmed message delivered, then stops all.
//! One Confab connection's loop is in [`conn`]; [`drive_with`] runs another
//! protocol's loop (the `xmpp` peer's) over the same windows, schedule,
//! counters and drain, so both report the same figures.

mod conn;
pub mod schedule;
pub mod window;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Interval;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use crate::client::ws::{To, Ws};
use crate::output::Correctness;
use crate::stats::{Latency, Timeline};
use crate::{Clock, Ctx};
use window::Windows;

/// What one connection does.
#[derive(Debug)]
pub struct Plan {
    pub ws: Ws,
    /// Present if this connection sends.
    pub send: Option<SendPlan>,
    /// Whether receipts on this connection open the senders' windows.
    pub witness: bool,
}

/// The sending half of a [`Plan`].
#[derive(Debug, Clone)]
pub struct SendPlan {
    /// The sender's index: its window, and the tag in its bodies.
    pub index: usize,
    pub to: To,
    /// Messages per second; `None`: as fast as the window allows.
    pub rate: Option<f64>,
    /// Deliveries each confirmed message should make (online recipients).
    pub fanout: u64,
    pub body_bytes: usize,
}

/// How the traffic runs.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Sender windows (one per sender index).
    pub senders: usize,
    pub in_flight: usize,
    /// Messages sent and not yet delivered across all senders; `None`: no
    /// bound but the senders' own.
    pub window: Option<usize>,
    /// Seconds of sending.
    pub duration: f64,
    /// Most seconds to wait, after sending, for answers and deliveries.
    pub drain: f64,
}

/// Counters every connection task updates, and the stop signals.
#[derive(Debug)]
pub struct Shared {
    pub clock: Clock,
    pub windows: Windows,
    timeline: Timeline,
    /// Sends written.
    pub sent: AtomicU64,
    /// Sends the server answered (confirmed or refused).
    pub answered: AtomicU64,
    /// Deliveries to wait for: what confirmed sends owe.
    pub expected: AtomicU64,
    delivered: AtomicU64,
    /// Clock time of the latest delivery.
    last_delivery: AtomicU64,
    /// Cancelled when the sending time is over.
    pub stop_sending: CancellationToken,
    /// Cancelled when the drain is over: every connection closes.
    pub stop: CancellationToken,
}

impl Shared {
    /// Counts the first receipt (at clock time `now`) of a message from
    /// sender index `sender`; a witness gives its windows' slots back.
    pub fn delivered(&self, now: u64, sender: usize, witness: bool) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.last_delivery.fetch_max(now, Ordering::Relaxed);
        self.timeline.add(1);
        if witness {
            self.windows.release(sender);
        }
    }
}

/// What one connection saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Its sender index, if it sent.
    pub sender: Option<usize>,
    /// The `msg_id`s of its confirmed sends (over XMPP, which confirms
    /// nothing, the sequence numbers of every send written).
    pub confirmed: Vec<u64>,
    /// The `msg_id`s (over XMPP: the sender's sequence numbers) it
    /// received, once each.
    pub received: HashSet<u64>,
    pub correctness: Correctness,
    /// Send → receipt, for messages received here.
    pub e2e: Latency,
    /// Send → `sent`, for messages sent from here.
    pub confirm: Latency,
    /// Scheduled sends dropped because the sender fell more than a second
    /// behind its rate.
    pub fell_behind: u64,
    /// At a fixed rate: scheduled time → write, for sends from here.
    pub late: Latency,
}

/// Every connection's figures together.
#[derive(Debug, Default)]
pub struct Merged {
    pub e2e: Latency,
    pub confirm: Latency,
    pub correctness: Correctness,
    pub fell_behind: u64,
    pub late: Latency,
}

/// What the whole traffic did.
#[derive(Debug)]
pub struct Traffic {
    pub outcomes: Vec<Outcome>,
    /// Seconds of sending.
    pub send_secs: f64,
    /// Seconds from the start to the last delivery.
    pub active_secs: f64,
    pub sent: u64,
    pub delivered: u64,
    pub expected: u64,
    /// Deliveries per second of the run.
    pub timeline: Vec<u64>,
}

impl Traffic {
    /// Every connection's latencies and errors together.
    pub fn merged(&self) -> Merged {
        let mut merged = Merged::default();
        for o in &self.outcomes {
            merged.e2e.merge(&o.e2e);
            merged.confirm.merge(&o.confirm);
            merged.correctness.merge(&o.correctness);
            merged.fell_behind += o.fell_behind;
            merged.late.merge(&o.late);
        }
        merged
    }

    /// The `msg_id`s each sender index had confirmed.
    pub fn confirmed_by_sender(&self) -> BTreeMap<usize, &[u64]> {
        self.outcomes
            .iter()
            .filter_map(|o| o.sender.map(|s| (s, o.confirmed.as_slice())))
            .collect()
    }
}

/// Runs `plans` (Confab connections) with `shape`, showing progress as
/// `what`.
pub async fn drive(
    ctx: &Ctx,
    plans: Vec<Plan>,
    shape: &Shape,
    what: &str,
) -> anyhow::Result<Traffic> {
    drive_with(ctx, plans, shape, what, conn::run).await
}

/// Runs one task per plan, each `connection(plan, shared)`, with `shape`:
/// the sending time, then the bounded drain, then the stop; showing
/// progress as `what`. The outcomes are in the plans' order.
pub async fn drive_with<P, F, Fut>(
    ctx: &Ctx,
    plans: Vec<P>,
    shape: &Shape,
    what: &str,
    connection: F,
) -> anyhow::Result<Traffic>
where
    F: Fn(P, Arc<Shared>) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let clock = ctx.clock;
    let seconds = (shape.duration + shape.drain).ceil() as usize + 2;
    let shared = Arc::new(Shared {
        clock,
        windows: Windows::new(shape.senders, shape.in_flight, shape.window),
        timeline: Timeline::new(clock, seconds),
        sent: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        expected: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        last_delivery: AtomicU64::new(0),
        stop_sending: CancellationToken::new(),
        stop: CancellationToken::new(),
    });
    let start = clock.now();
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|plan| tokio::spawn(connection(plan, shared.clone())))
        .collect();

    send_for(ctx, &shared, shape.duration, what).await;
    shared.stop_sending.cancel();
    let send_secs = clock.since(start) as f64 / 1e9;
    drain(ctx, &shared, shape.drain).await;
    shared.stop.cancel();

    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await?);
    }
    let last_delivery = shared.last_delivery.load(Ordering::Relaxed);
    let active_secs = if last_delivery > start {
        (last_delivery - start) as f64 / 1e9
    } else {
        send_secs
    };
    Ok(Traffic {
        outcomes,
        send_secs,
        active_secs,
        sent: shared.sent.load(Ordering::Relaxed),
        delivered: shared.delivered.load(Ordering::Relaxed),
        expected: shared.expected.load(Ordering::Relaxed),
        timeline: shared.timeline.counts(),
    })
}

/// The sending time: `duration` seconds, showing deliveries per second.
async fn send_for(ctx: &Ctx, shared: &Shared, duration: f64, what: &str) {
    let clock = shared.clock;
    let start = clock.now();
    let bar = crate::progress::timed(ctx.quiet, duration, what);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last = (start, 0u64);
    while clock.since(start) < secs_to_nanos(duration) {
        tick.tick().await;
        bar.inc(1);
        let now = clock.now();
        let delivered = shared.delivered.load(Ordering::Relaxed);
        if now - last.0 >= 1_000_000_000 {
            let rate = (delivered - last.1) as f64 / ((now - last.0) as f64 / 1e9);
            bar.set_message(format!("{rate:.0} deliveries/s"));
            last = (now, delivered);
        }
    }
    bar.finish_and_clear();
}

/// The bounded drain: until every send is answered and every confirmed
/// message delivered, or `drain` seconds.
async fn drain(ctx: &Ctx, shared: &Shared, drain: f64) {
    let clock = shared.clock;
    let drain_start = clock.now();
    let deadline = drain_start + secs_to_nanos(drain);
    let bar = crate::progress::timed(ctx.quiet, drain, "draining");
    while clock.now() < deadline {
        let settled = shared.answered.load(Ordering::Relaxed)
            >= shared.sent.load(Ordering::Relaxed)
            && shared.delivered.load(Ordering::Relaxed) >= shared.expected.load(Ordering::Relaxed);
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        bar.set_position(clock.since(drain_start) / 100_000_000);
    }
    bar.finish_and_clear();
}

/// How many of `sent` are not in `received`.
pub fn count_missing(sent: &[u64], received: &HashSet<u64>) -> u64 {
    sent.iter().filter(|m| !received.contains(m)).count() as u64
}

/// What one read from a connection's socket means to its loop.
#[derive(Debug)]
pub enum Read {
    /// A text frame to handle.
    Text(Utf8Bytes),
    /// Nothing to do (a ping, a pong, a binary frame).
    Nothing,
    /// The connection is over; why was counted as an error.
    Ended,
}

impl Read {
    /// Classifies `frame`, counting in `correctness` why a connection ended.
    pub fn of(frame: Option<Result<Message, WsError>>, correctness: &mut Correctness) -> Self {
        match frame {
            Some(Ok(Message::Text(text))) => Self::Text(text),
            Some(Ok(Message::Close(close))) => {
                let code = close.map_or(1005, |c| u16::from(c.code));
                correctness.error(format!("closed by the server ({code})"));
                Self::Ended
            }
            Some(Ok(_)) => Self::Nothing,
            Some(Err(e)) => {
                correctness.error(format!("socket error: {e}"));
                Self::Ended
            }
            None => {
                correctness.error("connection ended");
                Self::Ended
            }
        }
    }
}

fn secs_to_nanos(secs: f64) -> u64 {
    (secs.max(0.0) * 1e9) as u64
}

/// The next deadline of an optional schedule (never, without one).
pub(crate) async fn tick(interval: &mut Option<Interval>) -> tokio::time::Instant {
    match interval {
        Some(interval) => interval.tick().await,
        None => std::future::pending().await,
    }
}
