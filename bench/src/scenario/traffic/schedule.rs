//! A sender's pace. In a closed loop it sends whenever its windows have
//! room. At a fixed rate each tick of its schedule owes one send, which
//! goes when the windows have room and carries the tick's *scheduled* time,
//! so a sender (or server) that falls behind shows as latency instead of
//! hiding it; more than a second of backlog is dropped and counted.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

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
}

impl Schedule {
    /// `rate` sends per second, or a closed loop without one.
    pub fn new(rate: Option<f64>) -> Self {
        let interval = rate.map(|r| {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(0.001)));
            // Keep the schedule: missed ticks fire at once (and count as late).
            interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
            interval
        });
        Self {
            interval,
            owed: VecDeque::new(),
            max_owed: rate.map_or(0, |r| (r.ceil() as usize).max(1)),
            fell_behind: 0,
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
        self.owed.pop_front().unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn a_closed_loop_is_always_ready_and_sends_now() {
        let mut schedule = Schedule::new(None);
        assert!(schedule.ready());
        assert_eq!(schedule.take(42), 42);
    }

    #[tokio::test]
    async fn a_fixed_rate_sends_what_it_owes_and_drops_past_a_second() {
        let mut schedule = Schedule::new(Some(2.0));
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
}
