//! The one retry policy of every loop that waits for a dependency to come
//! back (the broker consumers and publisher, the dispatcher's batches, the
//! Consul registration, the ack writer): exponential delays from `first`,
//! doubling up to `max`, never giving up on their own, and always yielding
//! to shutdown. The schedule comes from `backon`; the sleep is tokio's, raced
//! against the caller's [`CancellationToken`].

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Delays between attempts: `first`, `2 × first`, … capped at `max`.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    schedule: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// A schedule that starts at `first` and doubles up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(first)
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times();
        Self {
            schedule: builder.build(),
            builder,
            max,
        }
    }

    /// Starts over from the first delay (after a success).
    pub fn reset(&mut self) {
        self.schedule = self.builder.build();
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // The schedule has no end (`without_max_times`); `max` is its cap.
        self.schedule.next().unwrap_or(self.max)
    }

    /// Sleeps the next delay. False if `shutdown` came first: the caller
    /// stops retrying.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = shutdown.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap_and_reset_starts_over() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        // backon multiplies by an f32 factor: whole milliseconds are exact.
        let delays: Vec<u128> = (0..7).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), 100 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_sleeps_the_delay_unless_shutdown_comes_first() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        let shutdown = CancellationToken::new();
        let started = tokio::time::Instant::now();
        assert!(backoff.wait(&shutdown).await);
        assert_eq!(started.elapsed(), 100 * MS);

        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(50 * MS).await;
            stop.cancel();
        });
        let started = tokio::time::Instant::now();
        assert!(!backoff.wait(&shutdown).await);
        assert_eq!(started.elapsed(), 50 * MS);
    }
}
