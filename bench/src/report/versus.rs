//! "Confab ÷ ejabberd": for every label run both as `direct` (Confab) and
//! as `xmpp` (ejabberd), the medians of each side's throughput and
//! end-to-end latency, and their ratio. `bench/suite.sh` gives the two runs
//! of one setting the same label, so one run directory yields the table.

use std::fmt::Write as _;

use crate::output::{RunRecord, number};
use crate::stats::{LatencySummary, median};

/// The figures compared: a name (with its unit) and how to read it from a
/// run.
type Pick = (&'static str, fn(&RunRecord) -> Option<f64>);

const FIGURES: [Pick; 5] = [
    ("delivered/s", |r| r.value("delivered/s")),
    ("e2e p50 ms", |r| e2e(r, |l| l.p50_us)),
    ("e2e p90 ms", |r| e2e(r, |l| l.p90_us)),
    ("e2e p99 ms", |r| e2e(r, |l| l.p99_us)),
    ("e2e max ms", |r| e2e(r, |l| l.max_us)),
];

/// One end-to-end percentile of a run, in milliseconds.
fn e2e(record: &RunRecord, percentile: fn(&LatencySummary) -> u64) -> Option<f64> {
    record
        .latencies
        .get("e2e")
        .filter(|l| l.count > 0)
        .map(|l| percentile(l) as f64 / 1000.0)
}

/// The median of `pick` over `runs`.
fn median_of(runs: &[&RunRecord], pick: fn(&RunRecord) -> Option<f64>) -> Option<f64> {
    let mut values: Vec<f64> = runs.iter().filter_map(|r| pick(r)).collect();
    median(&mut values)
}

/// The table; empty when no label has both sides.
pub fn table(records: &[RunRecord]) -> String {
    let mut labels: Vec<&str> = Vec::new();
    for record in records.iter().filter(|r| r.scenario == "direct") {
        if let Some(label) = record.label.as_deref()
            && !labels.contains(&label)
        {
            labels.push(label);
        }
    }
    let mut out = String::new();
    for label in labels {
        let side = |scenario: &str| -> Vec<&RunRecord> {
            records
                .iter()
                .filter(|r| r.scenario == scenario && r.label.as_deref() == Some(label))
                .collect()
        };
        let (confab, ejabberd) = (side("direct"), side("xmpp"));
        // ejabberd archiving every message (mod_mam), under `<label> +mam`.
        let archived: Vec<&RunRecord> = records
            .iter()
            .filter(|r| {
                r.scenario == "xmpp" && r.label.as_deref() == Some(&format!("{label}{MAM}"))
            })
            .collect();
        if ejabberd.is_empty() {
            continue;
        }
        if out.is_empty() {
            let _ = writeln!(
                out,
                "\n== Confab ÷ ejabberd, medians (throughput above 1 and latency below 1 favour Confab) =="
            );
            let _ = writeln!(
                out,
                "  {:<20} {:<12} {:>14} {:>14} {:>8}",
                "label", "figure", "Confab", "ejabberd", "ratio"
            );
        }
        let runs = format!("{label} ({}×{})", confab.len(), ejabberd.len());
        rows(&mut out, &runs, &confab, &ejabberd);
        if !archived.is_empty() {
            let runs = format!("{label}{MAM} ({}×{})", confab.len(), archived.len());
            rows(&mut out, &runs, &confab, &archived);
        }
    }
    out
}

/// The label suffix of ejabberd's runs with its message archive on.
pub const MAM: &str = " +mam";

/// One comparison: each figure's medians and their ratio.
fn rows(out: &mut String, runs: &str, confab: &[&RunRecord], ejabberd: &[&RunRecord]) {
    for (i, (name, pick)) in FIGURES.iter().enumerate() {
        let (Some(c), Some(e)) = (median_of(confab, *pick), median_of(ejabberd, *pick)) else {
            continue;
        };
        let ratio = if e > 0.0 {
            format!("{:.2}", c / e)
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            out,
            "  {:<20} {:<12} {:>14} {:>14} {:>8}",
            if i == 0 { runs } else { "" },
            name,
            number(c),
            number(e),
            ratio
        );
    }
}

#[cfg(test)]
mod tests {
    use super::table;
    use crate::output::RunRecord;

    fn record(scenario: &str, label: &str, delivered: f64) -> RunRecord {
        let ctx = crate::Ctx::new(true);
        let mut record = RunRecord::new(&ctx, scenario, Some(label.into()), Default::default());
        record.figure("delivered/s", delivered, "msg/s");
        record
    }

    #[test]
    fn matching_labels_are_divided() {
        let records = [
            record("direct", "w64", 3000.0),
            record("direct", "w64", 5000.0),
            record("xmpp", "w64", 2000.0),
            record("direct", "w8", 1000.0),
        ];
        let text = table(&records);
        assert!(text.contains("w64 (2×1)"), "{text}");
        // Median 4,000 over 2,000.
        assert!(text.contains("2.00"), "{text}");
        assert!(!text.contains("w8"), "{text}");
        assert!(table(&records[3..]).is_empty());
    }
}
