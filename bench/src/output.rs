//! What a run leaves behind: a [`RunRecord`] (written as JSON, read back by
//! `report`) and the human table printed at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::stages::StageSummary;
use crate::stats::LatencySummary;

/// One scenario run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// `connections`, `direct`, `group`, `offline`, `broker` or `xmpp`.
    pub scenario: String,
    pub label: Option<String>,
    pub run_id: String,
    pub started_unix_ms: u64,
    /// Logical cores of the machine that ran the load generator.
    pub cores: usize,
    /// The options the scenario ran with.
    pub params: serde_json::Value,
    /// Headline figures, in the order the table prints them.
    pub figures: Vec<Figure>,
    /// Latency distributions by name (`e2e`, `sent`, `connect`, `pong`, …).
    pub latencies: BTreeMap<String, LatencySummary>,
    /// Deliveries (or connections) per second of the run, second by second.
    pub timeline: Vec<u64>,
    /// The message waterfall (`--stages`), in path order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageSummary>,
    pub correctness: Correctness,
    /// The broker ceiling measured in the same invocation (`direct
    /// --compare-broker`), and Confab's fraction of it.
    pub ceiling: Option<Box<RunRecord>>,
}

impl RunRecord {
    /// A record of `scenario` started now, to be filled in.
    pub fn new(
        ctx: &crate::Ctx,
        scenario: &str,
        label: Option<String>,
        params: serde_json::Value,
    ) -> Self {
        let started_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        Self {
            scenario: scenario.to_owned(),
            label,
            run_id: ctx.run_id.clone(),
            started_unix_ms,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            params,
            figures: Vec::new(),
            latencies: BTreeMap::new(),
            timeline: Vec::new(),
            stages: Vec::new(),
            correctness: Correctness::default(),
            ceiling: None,
        }
    }

    /// Adds a headline figure.
    pub fn figure(&mut self, name: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// The value of figure `name`, if recorded.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    /// The name the report and tables show: scenario and label.
    pub fn title(&self) -> String {
        match &self.label {
            Some(label) => format!("{} ({label})", self.scenario),
            None => self.scenario.clone(),
        }
    }
}

/// One headline number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// What went wrong, if anything: the counts a smoke test asserts on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Correctness {
    /// Messages the server confirmed (`sent`) that a recipient online for
    /// the whole run never received (one per recipient).
    pub lost: u64,
    /// Deliveries of a `msg_id` the recipient already had.
    pub duplicated: u64,
    /// `error` frames by code, failed connects and closes by reason.
    pub errors: BTreeMap<String, u64>,
}

impl Correctness {
    /// Counts one more `what`.
    pub fn error(&mut self, what: impl Into<String>) {
        *self.errors.entry(what.into()).or_default() += 1;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Correctness) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        for (what, n) in &other.errors {
            *self.errors.entry(what.clone()).or_default() += n;
        }
    }
}

/// The human table of a run.
pub fn table(record: &RunRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== {} (run {}) ==", record.title(), record.run_id);
    for f in &record.figures {
        let _ = writeln!(out, "  {:<34} {:>14} {}", f.name, number(f.value), f.unit);
    }
    if !record.latencies.is_empty() {
        let _ = writeln!(
            out,
            "\n  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   (ms)",
            "latency", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, l) in &record.latencies {
            let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
            let _ = writeln!(
                out,
                "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                l.count,
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us)
            );
        }
    }
    waterfall(&mut out, record);
    let c = &record.correctness;
    let _ = writeln!(out, "\n  lost {}   duplicated {}", c.lost, c.duplicated);
    if !c.errors.is_empty() {
        let errors: Vec<String> = c.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "  errors: {}", errors.join(", "));
    }
    if let Some(ceiling) = &record.ceiling {
        out.push_str(&table(ceiling));
    }
    out
}

/// The waterfall: each stage's p50 and p99 since the node read the send,
/// the p50's step from the stage before, then the client's end to end.
fn waterfall(out: &mut String, record: &RunRecord) {
    if record.stages.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n  {:<12} {:>9} {:>9} {:>9} {:>9}   (ms since the node read the send)",
        "stage", "count", "p50", "+p50", "p99"
    );
    let ms = |us: f64| format!("{:.3}", us / 1000.0);
    let mut previous = 0.0;
    for s in &record.stages {
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>9} {:>9} {:>9}",
            s.stage,
            s.count,
            ms(s.p50_us),
            ms(s.p50_us - previous),
            ms(s.p99_us)
        );
        // `confirmed` answers the sender, beside the path: the next
        // stage's step is from `published`.
        if s.stage != "confirmed" {
            previous = s.p50_us;
        }
    }
    if let Some(e2e) = record.latencies.get("e2e") {
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>9} {:>9} {:>9}   (client send → client receive)",
            "e2e",
            e2e.count,
            ms(e2e.p50_us as f64),
            "",
            ms(e2e.p99_us as f64)
        );
    }
}

/// `12345.6` as `12,346`; small values keep decimals.
pub fn number(value: f64) -> String {
    if value.abs() >= 1000.0 {
        let digits = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if value < 0.0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

/// Writes `record` to `json` or to a new file in `dir`; returns the path.
pub fn write_json(record: &RunRecord, json: Option<&Path>, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = match json {
        Some(path) => path.to_owned(),
        None => dir.join(format!(
            "{}-{}-{}.json",
            record.scenario, record.started_unix_ms, record.run_id
        )),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(record).context("encoding the results")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reads a record written by [`write_json`].
pub fn read_json(path: &Path) -> anyhow::Result<RunRecord> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a confab-bench result", path.display()))
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(0.25), "0.250");
        assert_eq!(number(-1500.0), "-1,500");
    }
}
