//! "Highest rate held": the open-loop capacity an operator sizes by. The
//! suite runs `direct` (Confab) and `xmpp` (ejabberd) at a sweep of fixed
//! total rates under labels `sweep <rate>/s`; a rate is held when every run
//! of it kept its schedule (no send fell behind), lost nothing and kept the
//! end-to-end p99 under [`P99_LIMIT_MS`]. The table gives each side's p99
//! at every rate and the highest rate it held.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::output::{RunRecord, number};

/// The latency a held rate must stay under, at p99.
pub const P99_LIMIT_MS: f64 = 50.0;

/// The label prefix of the sweep's runs.
pub const LABEL: &str = "sweep ";

/// Whether one run held its rate; `None` if it is not a sweep run.
fn held(record: &RunRecord) -> Option<(u64, bool, f64)> {
    if !record.label.as_deref()?.starts_with(LABEL) {
        return None;
    }
    let rate = record.value("target rate")?;
    let p99_ms = record.latencies.get("e2e")?.p99_us as f64 / 1000.0;
    let on_time = record.value("fell behind schedule").unwrap_or(0.0) == 0.0;
    let ok = on_time && record.correctness.lost == 0 && p99_ms < P99_LIMIT_MS;
    Some((rate as u64, ok, p99_ms))
}

/// The table; empty when there are no sweep runs.
pub fn table(records: &[RunRecord]) -> String {
    // scenario → rate → (every run held, worst p99)
    let mut sides: BTreeMap<&str, BTreeMap<u64, (bool, f64)>> = BTreeMap::new();
    for record in records {
        let Some((rate, ok, p99)) = held(record) else {
            continue;
        };
        let entry = sides
            .entry(record.scenario.as_str())
            .or_default()
            .entry(rate)
            .or_insert((true, 0.0));
        entry.0 &= ok;
        entry.1 = entry.1.max(p99);
    }
    let mut out = String::new();
    if sides.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n== Highest rate held (every run on schedule, nothing lost, e2e p99 < {P99_LIMIT_MS} ms) =="
    );
    for (scenario, rates) in &sides {
        let who = match *scenario {
            "direct" => "Confab",
            "xmpp" => "ejabberd",
            other => other,
        };
        // The highest rate held with every lower rate held too.
        let highest = rates
            .iter()
            .take_while(|(_, (ok, _))| *ok)
            .last()
            .map_or("none".to_owned(), |(rate, _)| {
                format!("{} msg/s", number(*rate as f64))
            });
        let steps: Vec<String> = rates
            .iter()
            .map(|(rate, (ok, p99))| {
                let mark = if *ok { "" } else { " ✗" };
                format!("{}: p99 {p99:.1} ms{mark}", number(*rate as f64))
            })
            .collect();
        let _ = writeln!(out, "  {who:<9} {highest:>14}   ({})", steps.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencySummary;

    fn run(scenario: &str, rate: f64, p99_ms: u64, behind: f64) -> RunRecord {
        let ctx = crate::Ctx::new(true);
        let label = format!("{LABEL}{rate}/s");
        let mut r = RunRecord::new(&ctx, scenario, Some(label), serde_json::Value::Null);
        r.figure("target rate", rate, "msg/s");
        r.figure("fell behind schedule", behind, "sends dropped");
        let e2e = LatencySummary {
            count: 1,
            p99_us: p99_ms * 1000,
            ..LatencySummary::default()
        };
        r.latencies.insert("e2e".into(), e2e);
        r
    }

    #[test]
    fn the_highest_rate_held_is_below_the_first_one_missed() {
        let records = [
            run("direct", 500.0, 5, 0.0),
            run("direct", 1000.0, 12, 0.0),
            run("direct", 2000.0, 80, 0.0),
            run("direct", 4000.0, 30, 0.0),
            run("xmpp", 500.0, 2, 0.0),
            run("xmpp", 1000.0, 3, 10.0),
        ];
        let text = table(&records);
        assert!(text.contains("Confab       1,000 msg/s"), "{text}");
        assert!(text.contains("ejabberd       500 msg/s"), "{text}");
        assert!(text.contains("2,000: p99 80.0 ms ✗"), "{text}");
    }

    #[test]
    fn no_sweep_no_table() {
        assert!(table(&[]).is_empty());
    }
}
