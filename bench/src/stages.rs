//! The message waterfall (`--stages`): how long after a node read a `send`
//! its message reached each stage of its trip, p50 and p99 per stage. The
//! services record it themselves (`confab_message_stage_seconds{stage}`, a
//! histogram on every node and dispatcher); this module scrapes their
//! `/metrics` before and after a run and reads the run's share of the
//! buckets, so a long-running cluster's earlier traffic does not count.
//! Quantiles are interpolated within a bucket (the buckets are 50 µs wide
//! below a millisecond).

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The histogram every node and dispatcher records stages in.
const METRIC: &str = "confab_message_stage_seconds";

/// The stages in path order (the services' `metric::Stage::ALL`).
pub const ORDER: [&str; 9] = [
    "claimed",
    "published",
    "confirmed",
    "received",
    "appended",
    "located",
    "routed",
    "arrived",
    "written",
];

/// One stage of the waterfall.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: String,
    /// Messages (or deliveries, from `routed` on) that reached it.
    pub count: u64,
    /// Microseconds since the node read the `send`.
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Cumulative bucket counts per stage, summed over every process scraped:
/// stage → (upper bound in seconds → count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot(BTreeMap<String, Vec<(f64, f64)>>);

/// The `/metrics` of every process of the cluster under test.
#[derive(Debug, Clone)]
pub struct Scraper {
    client: reqwest::Client,
    urls: Vec<url::Url>,
}

impl Scraper {
    /// Scrapes `<base>/metrics` of each of `bases`.
    pub fn new(bases: &[url::Url]) -> anyhow::Result<Self> {
        let urls = bases
            .iter()
            .map(|b| b.join("/metrics").context("a metrics URL"))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            client: reqwest::Client::new(),
            urls,
        })
    }

    /// Every process's stage buckets, summed.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut total = Snapshot::default();
        for url in &self.urls {
            let text = self
                .client
                .get(url.clone())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("scraping {url}"))?
                .text()
                .await
                .with_context(|| format!("reading {url}"))?;
            total.add(&parse(&text)?);
        }
        Ok(total)
    }
}

/// A run's waterfall in the making: the snapshot taken before it.
#[derive(Debug)]
pub struct Waterfall {
    scraper: Scraper,
    before: Snapshot,
}

impl Waterfall {
    /// Takes the snapshot before a run, if `target` asks for `--stages`.
    pub async fn start(target: &crate::target::Target) -> anyhow::Result<Option<Self>> {
        if !target.stages {
            return Ok(None);
        }
        let every: Vec<url::Url> = target
            .urls
            .iter()
            .chain(&target.dispatchers)
            .cloned()
            .collect();
        let scraper = Scraper::new(&every)?;
        let before = scraper.snapshot().await?;
        Ok(Some(Self { scraper, before }))
    }

    /// The run's waterfall, from a snapshot taken now.
    pub async fn finish(self) -> anyhow::Result<Vec<StageSummary>> {
        Ok(self.scraper.snapshot().await?.since(&self.before))
    }
}

/// The stage buckets of one Prometheus text exposition.
pub fn parse(text: &str) -> anyhow::Result<Snapshot> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).context("parsing /metrics")?;
    let mut snapshot = Snapshot::default();
    for sample in scrape.samples {
        let (Some(stage), prometheus_parse::Value::Histogram(buckets)) =
            (sample.labels.get("stage"), &sample.value)
        else {
            continue;
        };
        if sample.metric != METRIC {
            continue;
        }
        let buckets = buckets.iter().map(|b| (b.less_than, b.count)).collect();
        snapshot.0.insert(stage.to_owned(), buckets);
    }
    Ok(snapshot)
}

impl Snapshot {
    /// Adds another process's buckets (same bounds on every process).
    fn add(&mut self, other: &Snapshot) {
        for (stage, buckets) in &other.0 {
            let mine = self.0.entry(stage.clone()).or_default();
            if mine.is_empty() {
                mine.clone_from(buckets);
            } else {
                for (m, o) in mine.iter_mut().zip(buckets) {
                    m.1 += o.1;
                }
            }
        }
    }

    /// The waterfall of what was recorded between `before` and `self`, in
    /// path order; stages nothing reached are left out.
    pub fn since(&self, before: &Snapshot) -> Vec<StageSummary> {
        ORDER
            .iter()
            .filter_map(|&stage| {
                let after = self.0.get(stage)?;
                let earlier = before.0.get(stage);
                let buckets: Vec<(f64, f64)> = after
                    .iter()
                    .enumerate()
                    .map(|(i, &(le, n))| {
                        let was = earlier.and_then(|e| e.get(i)).map_or(0.0, |b| b.1);
                        (le, n - was)
                    })
                    .collect();
                let count = buckets.last().map_or(0.0, |b| b.1);
                (count > 0.0).then(|| StageSummary {
                    stage: stage.to_owned(),
                    count: count as u64,
                    p50_us: quantile(&buckets, 0.50) * 1e6,
                    p99_us: quantile(&buckets, 0.99) * 1e6,
                })
            })
            .collect()
    }
}

/// The `q` quantile of cumulative `buckets` (bound, count), interpolated
/// linearly within its bucket; past the last finite bound, that bound.
fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return 0.0;
    };
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank && count > below {
            if le.is_infinite() {
                return lower;
            }
            return lower + (le - lower) * (rank - below) / (count - below);
        }
        if le.is_finite() {
            lower = le;
        }
        below = count;
    }
    lower
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"
# TYPE confab_message_stage_seconds histogram
confab_message_stage_seconds_bucket{stage="claimed",le="0.0001"} 10
confab_message_stage_seconds_bucket{stage="claimed",le="0.0002"} 10
confab_message_stage_seconds_bucket{stage="claimed",le="+Inf"} 10
confab_message_stage_seconds_sum{stage="claimed"} 0.001
confab_message_stage_seconds_count{stage="claimed"} 10
"#;

    const AFTER: &str = r#"
# TYPE confab_message_stage_seconds histogram
confab_message_stage_seconds_bucket{stage="claimed",le="0.0001"} 10
confab_message_stage_seconds_bucket{stage="claimed",le="0.0002"} 110
confab_message_stage_seconds_bucket{stage="claimed",le="+Inf"} 110
confab_message_stage_seconds_sum{stage="claimed"} 0.016
confab_message_stage_seconds_count{stage="claimed"} 110
# TYPE confab_delivery_latency_seconds histogram
confab_delivery_latency_seconds_bucket{le="0.001"} 5
confab_delivery_latency_seconds_bucket{le="+Inf"} 5
confab_delivery_latency_seconds_sum 0.001
confab_delivery_latency_seconds_count 5
"#;

    #[test]
    fn the_run_s_share_of_the_buckets_gives_its_quantiles() {
        let (before, after) = (parse(BEFORE).unwrap(), parse(AFTER).unwrap());
        let waterfall = after.since(&before);
        assert_eq!(waterfall.len(), 1, "{waterfall:?}");
        let claimed = &waterfall[0];
        assert_eq!((claimed.stage.as_str(), claimed.count), ("claimed", 100));
        // All 100 of the run fell in (100 µs, 200 µs]: the median halfway.
        assert!((claimed.p50_us - 150.0).abs() < 1e-6, "{claimed:?}");
        assert!((claimed.p99_us - 199.0).abs() < 1e-6, "{claimed:?}");
    }

    #[test]
    fn processes_add_up() {
        let mut total = parse(AFTER).unwrap();
        total.add(&parse(AFTER).unwrap());
        let waterfall = total.since(&Snapshot::default());
        assert_eq!(waterfall[0].count, 220);
    }

    #[test]
    fn beyond_the_last_bound_is_the_last_bound() {
        let buckets = [(0.001, 0.0), (1.0, 1.0), (f64::INFINITY, 10.0)];
        assert!((quantile(&buckets, 0.99) - 1.0).abs() < 1e-9);
    }
}
