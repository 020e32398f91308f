//! What was sent, confirmed and received, and the verdict on it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client message: (sender, target label like `u7` or `g3`, sequence).
pub type Key = (i64, String, u64);

#[derive(Debug, Default)]
struct Inner {
    /// Who must receive a message to each target label.
    audience: HashMap<(i64, String), Vec<i64>>,
    sent: HashSet<Key>,
    confirmed: HashMap<Key, String>,
    /// recipient → msg_id → key, first receipt only.
    received: HashMap<i64, HashMap<String, Key>>,
    /// recipient → key → msg_ids seen for it.
    ids_per_key: HashMap<(i64, Key), HashSet<String>>,
    /// (recipient, sender, target) → highest sequence received.
    last_seq: HashMap<(i64, i64, String), u64>,
    delivered: u64,
    /// Users whose connection is open now.
    online: HashSet<i64>,
    wire_dups: u64,
    dedup_dups: u64,
    out_of_order: u64,
    misdelivered: u64,
    /// user → conversation label → (seq, msg_id) of every `message` frame
    /// their client got, in arrival order (repeats included).
    logs: HashMap<i64, HashMap<String, Vec<(i64, String)>>>,
    /// What happened in each [`TICK`] since the ledger was made.
    timeline: Vec<Tick>,
}

/// The resolution of the timeline.
pub const TICK: Duration = Duration::from_millis(100);

/// Counts of one [`TICK`].
#[derive(Debug, Default, Clone, Copy)]
struct Tick {
    confirmed: u32,
    delivered: u32,
    unavailable: u32,
}

/// When a fault's clients felt it: how long sends were answered
/// `unavailable`, and the longest stretch without a confirm or a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// From the first `unavailable` answer to the last one (0 if none).
    pub unavailable: Duration,
    /// How many sends were answered `unavailable`.
    pub unavailable_answers: u32,
    /// The longest stretch with no send confirmed.
    pub no_confirms: Duration,
    /// The longest stretch with no message delivered.
    pub no_deliveries: Duration,
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sends answered `unavailable` for {} ms ({} answers); longest stretch without a confirm {} ms, without a delivery {} ms (at {} ms resolution)",
            self.unavailable.as_millis(),
            self.unavailable_answers,
            self.no_confirms.as_millis(),
            self.no_deliveries.as_millis(),
            TICK.as_millis()
        )
    }
}

/// What one device of a user holds of each conversation.
pub type DeviceView = HashMap<String, Vec<(i64, String)>>;

/// Shared between every simulated user.
#[derive(Debug, Clone)]
pub struct Ledger(Arc<Mutex<Inner>>, tokio::time::Instant);

/// Counters at a point in time, to report a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    sent: u64,
    confirmed: u64,
    delivered: u64,
    wire_dups: u64,
    dedup_dups: u64,
    out_of_order: u64,
    misdelivered: u64,
}

/// One phase's figures; `lost` is over everything confirmed so far.
#[derive(Debug, Clone)]
pub struct Report {
    phase: Snapshot,
    lost: u64,
    /// What is still missing: (recipient, msg_id, whether the recipient is
    /// connected now).
    pub missing: Vec<(i64, String, bool)>,
}

impl Report {
    /// Frames received during the phase.
    pub fn delivered(&self) -> u64 {
        self.phase.delivered
    }

    /// Confirmed sends during the phase.
    pub fn confirmed(&self) -> u64 {
        self.phase.confirmed
    }

    /// Whether a guarantee was broken.
    pub fn violated(&self) -> bool {
        self.lost > 0
            || self.phase.dedup_dups > 0
            || self.phase.out_of_order > 0
            || self.phase.misdelivered > 0
    }
}

impl Report {
    /// The fault's row of the table, with the confirmed sends per second.
    pub fn row(&self, rate: f64) -> String {
        let p = &self.phase;
        format!(
            "{:>7} {:>9} {:>8.0} {:>9} {:>9} {:>9} {:>5} {:>6} {:>12}{}",
            p.sent,
            p.confirmed,
            rate,
            p.delivered,
            p.wire_dups,
            p.dedup_dups,
            self.lost,
            p.out_of_order,
            p.misdelivered,
            if self.violated() {
                "  << VIOLATION"
            } else {
                ""
            }
        )
    }
}

impl Ledger {
    /// A ledger that knows who must receive what: for each (sender,
    /// conversation), its recipients.
    pub fn new(audience: impl IntoIterator<Item = ((i64, String), Vec<i64>)>) -> Self {
        let inner = Inner {
            audience: audience.into_iter().collect(),
            ..Inner::default()
        };
        Self(Arc::new(Mutex::new(inner)), tokio::time::Instant::now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The timeline's tick now.
    pub fn tick(&self) -> usize {
        (self.1.elapsed().as_millis() / TICK.as_millis()) as usize
    }

    fn count(&self, inner: &mut Inner, what: impl FnOnce(&mut Tick)) {
        let tick = self.tick();
        if inner.timeline.len() <= tick {
            inner.timeline.resize(tick + 1, Tick::default());
        }
        what(&mut inner.timeline[tick]);
    }

    pub fn sent(&self, key: Key) {
        self.lock().sent.insert(key);
    }

    pub fn confirmed(&self, key: Key, msg_id: String) {
        let mut inner = self.lock();
        inner.confirmed.insert(key, msg_id);
        self.count(&mut inner, |t| t.confirmed += 1);
    }

    /// A send was answered `unavailable`.
    pub fn unavailable(&self) {
        let mut inner = self.lock();
        self.count(&mut inner, |t| t.unavailable += 1);
    }

    /// What the clients felt between ticks `from` and `to`.
    pub fn outage(&self, from: usize, to: usize) -> Outage {
        let inner = self.lock();
        let window: Vec<Tick> = (from..to)
            .map(|i| inner.timeline.get(i).copied().unwrap_or_default())
            .collect();
        let longest = |quiet: fn(&Tick) -> bool| {
            let (mut run, mut best) = (0u32, 0u32);
            for tick in &window {
                run = if quiet(tick) { run + 1 } else { 0 };
                best = best.max(run);
            }
            TICK * best
        };
        let flagged: Vec<usize> = (0..window.len())
            .filter(|&i| window[i].unavailable > 0)
            .collect();
        let unavailable = match (flagged.first(), flagged.last()) {
            (Some(a), Some(b)) => TICK * u32::try_from(b - a + 1).unwrap_or(u32::MAX),
            _ => Duration::ZERO,
        };
        Outage {
            unavailable,
            unavailable_answers: window.iter().map(|t| t.unavailable).sum(),
            no_confirms: longest(|t| t.confirmed == 0),
            no_deliveries: longest(|t| t.delivered == 0),
        }
    }

    /// `user`'s connection is open.
    pub fn connected(&self, user: i64) {
        self.lock().online.insert(user);
    }

    /// `user`'s connection ended.
    pub fn disconnected(&self, user: i64) {
        self.lock().online.remove(&user);
    }

    /// Waits until `users` users are connected; how long that took, or an
    /// error after `limit`.
    pub async fn wait_all_connected(
        &self,
        users: usize,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let start = tokio::time::Instant::now();
        while self.lock().online.len() < users {
            if start.elapsed() > limit {
                let online = self.lock().online.len();
                anyhow::bail!("{online} of {users} users connected after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(start.elapsed())
    }

    /// A `message` frame reached `recipient`.
    pub fn received(&self, recipient: i64, msg_id: &str, body: &str) {
        let mut inner = self.lock();
        inner.delivered += 1;
        self.count(&mut inner, |t| t.delivered += 1);
        let Some(key) = parse(body) else {
            inner.misdelivered += 1;
            return;
        };
        let (sender, target, seq) = key.clone();
        if sender == recipient {
            // A copy of the user's own message, sent from another of its
            // connections (a reconnect overlaps the old connection briefly):
            // the contract's "your other devices get a copy".
            return;
        }
        let allowed = inner
            .audience
            .get(&(sender, target.clone()))
            .is_some_and(|a| a.contains(&recipient));
        if !allowed {
            inner.misdelivered += 1;
        }
        if inner
            .received
            .entry(recipient)
            .or_default()
            .contains_key(msg_id)
        {
            inner.wire_dups += 1;
            return;
        }
        inner
            .received
            .entry(recipient)
            .or_default()
            .insert(msg_id.to_owned(), key.clone());
        let ids = inner.ids_per_key.entry((recipient, key)).or_default();
        ids.insert(msg_id.to_owned());
        if ids.len() > 1 {
            inner.dedup_dups += 1;
        }
        let last = inner
            .last_seq
            .entry((recipient, sender, target))
            .or_insert(0);
        if seq <= *last {
            inner.out_of_order += 1;
        } else {
            *last = seq;
        }
    }

    /// `user`'s client got message `msg_id` at `seq` of conversation `conv`
    /// (as the user sees it: `u{other}` or `g{group}`).
    pub fn logged(&self, user: i64, conv: String, seq: i64, msg_id: &str) {
        self.lock()
            .logs
            .entry(user)
            .or_default()
            .entry(conv)
            .or_default()
            .push((seq, msg_id.to_owned()));
    }

    /// What `user`'s client got, and the ids of the messages it sent, had
    /// confirmed and some recipient got (so they are in the log for sure),
    /// by conversation.
    pub fn view_of(&self, user: i64) -> (DeviceView, HashMap<String, HashSet<String>>) {
        let inner = self.lock();
        let delivered: HashSet<&String> = inner.received.values().flat_map(|r| r.keys()).collect();
        let mut sent: HashMap<String, HashSet<String>> = HashMap::new();
        for ((sender, target, _), msg_id) in &inner.confirmed {
            if *sender == user && delivered.contains(msg_id) {
                sent.entry(target.clone())
                    .or_default()
                    .insert(msg_id.clone());
            }
        }
        (inner.logs.get(&user).cloned().unwrap_or_default(), sent)
    }

    /// Confirmed messages some recipient has not received: (recipient,
    /// msg_id, whether the recipient is connected now).
    fn missing(inner: &Inner) -> Vec<(i64, String, bool)> {
        let mut missing = Vec::new();
        for ((sender, target, _), msg_id) in &inner.confirmed {
            let Some(audience) = inner.audience.get(&(*sender, target.clone())) else {
                continue;
            };
            for recipient in audience {
                let got = inner
                    .received
                    .get(recipient)
                    .is_some_and(|r| r.contains_key(msg_id));
                if !got {
                    missing.push((*recipient, msg_id.clone(), inner.online.contains(recipient)));
                }
            }
        }
        missing
    }

    /// Waits until every confirmed message reached every recipient (or the
    /// time is up).
    pub async fn wait_for_quiet(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if Self::missing(&self.lock()).is_empty() {
                // A little longer, for stray repeats to show.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            sent: inner.sent.len() as u64,
            confirmed: inner.confirmed.len() as u64,
            delivered: inner.delivered,
            wire_dups: inner.wire_dups,
            dedup_dups: inner.dedup_dups,
            out_of_order: inner.out_of_order,
            misdelivered: inner.misdelivered,
        }
    }

    /// This phase's figures.
    pub fn report_since(&self, before: &Snapshot) -> Report {
        let now = self.snapshot();
        let missing = Self::missing(&self.lock());
        Report {
            phase: Snapshot {
                sent: now.sent - before.sent,
                confirmed: now.confirmed - before.confirmed,
                delivered: now.delivered - before.delivered,
                wire_dups: now.wire_dups - before.wire_dups,
                dedup_dups: now.dedup_dups - before.dedup_dups,
                out_of_order: now.out_of_order - before.out_of_order,
                misdelivered: now.misdelivered - before.misdelivered,
            },
            lost: missing.len() as u64,
            missing,
        }
    }
}

/// The body is `{sender}|{target}|{seq}`.
pub fn body(key: &Key) -> String {
    format!("{}|{}|{}", key.0, key.1, key.2)
}

fn parse(body: &str) -> Option<Key> {
    let mut parts = body.split('|');
    let sender = parts.next()?.parse().ok()?;
    let target = parts.next()?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    Some((sender, target, seq))
}
