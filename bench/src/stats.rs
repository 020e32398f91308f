//! Latency histograms (HDR, microseconds), their JSON summary, and a
//! per-second counter of deliveries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles kept in [`LatencySummary::spectrum`] for the report's curves.
const SPECTRUM: [f64; 20] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 97.5, 99.0, 99.5,
    99.9, 99.95, 99.99, 100.0,
];

/// Latencies in microseconds, 1 µs to one hour, three significant digits.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        // The bounds are constants hdrhistogram accepts (1 <= low,
        // high >= 2 * low, sigfig <= 5); the unit test below builds one.
        let histogram = match Histogram::new_with_bounds(1, 3_600_000_000, 3) {
            Ok(histogram) => histogram,
            Err(e) => unreachable!("constant histogram bounds refused: {e:?}"),
        };
        Self(histogram)
    }

    /// Records one latency given in nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        self.0.saturating_record((nanos / 1000).max(1));
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        self.record_nanos(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds `other`'s samples to this one.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// How many samples.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The summary written to JSON and tables.
    pub fn summary(&self) -> LatencySummary {
        let h = &self.0;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            mean_us: h.mean(),
            min_us: h.min(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            spectrum: SPECTRUM
                .iter()
                .map(|&p| (p, h.value_at_quantile(p / 100.0)))
                .collect(),
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

/// A latency distribution as written to JSON (microseconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// `(percentile, microseconds)` pairs from 0 to 100, for plotting.
    pub spectrum: Vec<(f64, u64)>,
}

/// Events per second since a start, in fixed one-second buckets; events
/// past the last bucket count in the last one.
#[derive(Debug)]
pub struct Timeline {
    clock: crate::Clock,
    start: u64,
    buckets: Vec<AtomicU64>,
}

impl Timeline {
    /// `seconds` buckets from now.
    pub fn new(clock: crate::Clock, seconds: usize) -> Self {
        Self {
            clock,
            start: clock.now(),
            buckets: (0..seconds.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts `n` events now.
    pub fn add(&self, n: u64) {
        let second = usize::try_from(self.clock.since(self.start) / 1_000_000_000).unwrap_or(0);
        let index = second.min(self.buckets.len() - 1);
        self.buckets[index].fetch_add(n, Ordering::Relaxed);
    }

    /// The counts, without trailing empty seconds.
    pub fn counts(&self) -> Vec<u64> {
        let mut counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        while counts.last() == Some(&0) {
            counts.pop();
        }
        counts
    }
}

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_back_what_was_recorded() {
        let mut latency = Latency::new();
        for ms in 1..=100u64 {
            latency.record(Duration::from_millis(ms));
        }
        let summary = latency.summary();
        assert_eq!(summary.count, 100);
        assert!((49_900..=50_100).contains(&summary.p50_us), "{summary:?}");
        assert!(summary.max_us >= 99_900);
        assert_eq!(summary.spectrum.len(), SPECTRUM.len());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
