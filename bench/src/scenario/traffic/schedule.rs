//! A sender's pace. In a closed loop it sends whenever its windows have
//! room. At a fixed rate each tick of its schedule owes one send, which
//! goes when the windows have room and carries the tick's *scheduled* time,
//! so a sender (or server) that falls behind shows as latency instead of
//! hiding it; more than a second of backlog is dropped and counted.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::stats::Latency;

/// One sender's schedule.
#[derive(Debug)]
pub struct Schedule {
    /// `None`: a closed loop.
    interval: Option<Interval>,
    /// Scheduled send times (on the run's clock) not yet sent.
    owed: VecDeque<u64>,
    /// One second of ticks.
    max_owed: usize,
    /// Scheduled sends dropped because more than a second was owed.
    pub fell_behind: u64,
    /// At a fixed rate, each send's scheduled time → its write: how late
    /// the generator itself sent (tokio's timer fires on the millisecond,
    /// and the generator shares the cores). It is part of `e2e`, which
    /// counts from the scheduled time.
    pub late: Latency,
}

impl Schedule {
    /// `rate` sends per second, or a closed loop without one. `sender` (its
    /// index) sets the schedule's phase: senders started together would
    /// otherwise all tick at once, a burst of every sender each period
    /// that no real population makes (200 senders at 5/s: 200 messages at
    /// once every 200 ms). Phases follow the golden-ratio sequence, which
    /// spreads any number of senders evenly over the period.
    pub fn new(rate: Option<f64>, sender: usize) -> Self {
        let interval = rate.map(|r| {
            let period = Duration::from_secs_f64(1.0 / r.max(0.001));
            let phase = (sender as f64 * 0.618_033_988_749_895).fract();
            let start = Instant::now() + period.mul_f64(phase);
            let mut interval = tokio::time::interval_at(start, period);
            // Keep the schedule: missed ticks fire at once (and count as late).
            interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
            interval
        });
        Self {
            interval,
            owed: VecDeque::new(),
            max_owed: rate.map_or(0, |r| (r.ceil() as usize).max(1)),
            fell_behind: 0,
            late: Latency::new(),
        }
    }

    /// The deadline of the next tick (never, in a closed loop).
    pub async fn tick(&mut self) -> Instant {
        super::tick(&mut self.interval).await
    }

    /// Owes the send of a tick scheduled at clock time `due`.
    pub fn owe(&mut self, due: u64) {
        self.owed.push_back(due);
        if self.owed.len() > self.max_owed {
            self.owed.pop_front();
            self.fell_behind += 1;
        }
    }

    /// Whether a send may go once the windows allow: always in a closed
    /// loop, only when one is owed at a fixed rate.
    pub fn ready(&self) -> bool {
        self.interval.is_none() || !self.owed.is_empty()
    }

    /// The send time the next message carries: its scheduled time, or
    /// `now` in a closed loop.
    pub fn take(&mut self, now: u64) -> u64 {
        match self.owed.pop_front() {
            Some(due) => {
                self.late.record_nanos(now.saturating_sub(due));
                due
            }
            None => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[tokio::test]
    async fn senders_started_together_tick_in_different_phases() {
        // 4/s: a 250 ms period; sender 1's phase is 0.618 of it.
        let (mut first, mut second) = (Schedule::new(Some(4.0), 0), Schedule::new(Some(4.0), 1));
        let (a, b) = (first.tick().await, second.tick().await);
        let apart = b.duration_since(a).as_millis();
        assert!((140..=170).contains(&apart), "{apart} ms apart");
    }

    #[test]
    fn a_closed_loop_is_always_ready_and_sends_now() {
        let mut schedule = Schedule::new(None, 0);
        assert!(schedule.ready());
        assert_eq!(schedule.take(42), 42);
    }

    #[tokio::test]
    async fn a_fixed_rate_sends_what_it_owes_and_drops_past_a_second() {
        let mut schedule = Schedule::new(Some(2.0), 0);
        assert!(!schedule.ready());
        for due in [10, 20, 30] {
            schedule.owe(due);
        }
        assert_eq!(schedule.fell_behind, 1);
        assert!(schedule.ready());
        assert_eq!(schedule.take(99), 20);
        assert_eq!(schedule.take(99), 30);
        assert!(!schedule.ready());
    }

    #[tokio::test]
    async fn a_send_is_as_late_as_its_write_after_its_tick() {
        let mut schedule = Schedule::new(Some(2.0), 0);
        schedule.owe(1_000_000);
        assert_eq!(schedule.take(3_000_000), 1_000_000);
        let late = schedule.late.summary();
        assert_eq!(late.count, 1);
        assert!((1990..=2010).contains(&late.max_us), "{} µs", late.max_us);
        // A closed loop is never late.
        let mut closed = Schedule::new(None, 0);
        closed.take(42);
        assert_eq!(closed.late.count(), 0);
    }
}
