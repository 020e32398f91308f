//! `report`: reads JSON results, prints the median of every figure per
//! series (scenario and label) over its runs, then Confab ÷ ejabberd for
//! the labels run both ways ([`versus`]), and draws one SVG: end-to-end
//! latency distributions, median throughput per series, and throughput
//! second by second.

pub mod sweep;
pub mod versus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use plotters::prelude::*;

use crate::output::{self, RunRecord, number};
use crate::stats::median;

/// Options of `report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportOptions {
    /// JSON results: files, or directories whose `*.json` files are read.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,

    /// The SVG to write.
    #[arg(long, default_value = "docs/bench/confab-bench.svg")]
    pub output: PathBuf,

    /// The plot's title.
    #[arg(long, default_value = "Confab benchmarks")]
    pub title: String,
}

/// Runs `report`.
pub fn run(o: &ReportOptions) -> anyhow::Result<()> {
    let records = load(&o.inputs)?;
    print!("{}", medians(&records));
    print!("{}", versus::table(&records));
    print!("{}", sweep::table(&records));
    draw(&records, &o.output, &o.title)?;
    println!("plot: {}", o.output.display());
    Ok(())
}

/// Every record under `inputs`, ceilings measured alongside a run included.
pub fn load(inputs: &[PathBuf]) -> anyhow::Result<Vec<RunRecord>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("reading {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    let mut records = Vec::new();
    for file in &files {
        let mut record = output::read_json(file)?;
        if let Some(ceiling) = record.ceiling.take() {
            records.push(*ceiling);
        }
        records.push(record);
    }
    if records.is_empty() {
        bail!("no results found");
    }
    Ok(records)
}

/// Records grouped by series (scenario and label), in first-seen order.
fn series(records: &[RunRecord]) -> Vec<(String, Vec<&RunRecord>)> {
    let mut out: Vec<(String, Vec<&RunRecord>)> = Vec::new();
    for record in records {
        let title = record.title();
        match out.iter_mut().find(|(t, _)| *t == title) {
            Some((_, runs)) => runs.push(record),
            None => out.push((title, vec![record])),
        }
    }
    out
}

/// The table of medians: every figure and latency percentile per series.
pub fn medians(records: &[RunRecord]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (title, runs) in series(records) {
        let _ = writeln!(out, "\n== {title}: median of {} run(s) ==", runs.len());
        let mut figures: BTreeMap<usize, (String, String, Vec<f64>)> = BTreeMap::new();
        for run in &runs {
            for (i, f) in run.figures.iter().enumerate() {
                let slot = figures
                    .entry(i)
                    .or_insert_with(|| (f.name.clone(), f.unit.clone(), Vec::new()));
                if slot.0 == f.name {
                    slot.2.push(f.value);
                }
            }
        }
        for (name, unit, mut values) in figures.into_values() {
            let all: Vec<String> = values.iter().map(|v| number(*v)).collect();
            if let Some(m) = median(&mut values) {
                let _ = writeln!(
                    out,
                    "  {name:<34} {:>14} {unit:<14} [{}]",
                    number(m),
                    all.join(" ")
                );
            }
        }
        let names: Vec<String> = runs
            .iter()
            .flat_map(|r| r.latencies.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for name in names {
            let pick = |f: fn(&crate::stats::LatencySummary) -> u64| {
                let mut values: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.latencies.get(&name))
                    .filter(|l| l.count > 0)
                    .map(|l| f(l) as f64 / 1000.0)
                    .collect();
                median(&mut values).map_or("-".to_owned(), |m| format!("{m:.3}"))
            };
            let _ = writeln!(
                out,
                "  latency {name:<10} p50 {} ms   p90 {} ms   p99 {} ms   p99.9 {} ms   max {} ms",
                pick(|l| l.p50_us),
                pick(|l| l.p90_us),
                pick(|l| l.p99_us),
                pick(|l| l.p999_us),
                pick(|l| l.max_us),
            );
        }
        let lost = runs.iter().map(|r| r.correctness.lost).max().unwrap_or(0);
        let duplicated = runs
            .iter()
            .map(|r| r.correctness.duplicated)
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "  lost (worst run) {lost}   duplicated (worst run) {duplicated}"
        );
    }
    out
}

/// Whether a record is message traffic (direct, its XMPP peer, group or
/// the broker), whose deliveries per second the timeline shows.
fn is_traffic(record: &RunRecord) -> bool {
    matches!(
        record.scenario.as_str(),
        "direct" | "xmpp" | "group" | "broker"
    )
}

/// The saturation rate of a traffic record run as fast as its windows
/// allowed (fixed-rate runs only show the rate they were given).
fn throughput(record: &RunRecord) -> Option<f64> {
    let fixed_rate = record.params["rate"].as_f64().is_some_and(|r| r > 0.0);
    if !is_traffic(record) || fixed_rate {
        return None;
    }
    ["delivered/s", "deliveries/s"]
        .iter()
        .find_map(|name| record.value(name))
}

/// Percentile → position on the latency plot's x axis (nines: 90% → 1,
/// 99% → 2, …), capped at 99.99%.
fn nines(percentile: f64) -> f64 {
    let p = (percentile / 100.0).min(0.9999);
    -(1.0 - p).log10()
}

/// Draws the SVG.
pub fn draw(records: &[RunRecord], path: &Path, title: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let groups = series(records);
    let plot = |e: &dyn std::fmt::Debug| anyhow::anyhow!("drawing {}: {e:?}", path.display());
    let root = SVGBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot(&e))?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| plot(&e))?;
    let (top, bottom) = root.split_vertically(460);
    let (left, right) = top.split_horizontally(700);

    // Latency distributions (end to end).
    let curves: Vec<(usize, &RunRecord, &crate::stats::LatencySummary)> = groups
        .iter()
        .enumerate()
        .flat_map(|(i, (_, runs))| runs.iter().map(move |r| (i, *r)))
        .filter_map(|(i, r)| {
            r.latencies
                .get("e2e")
                .filter(|l| l.count > 0)
                .map(|l| (i, r, l))
        })
        .collect();
    let max_ms = curves
        .iter()
        .map(|(_, _, l)| l.max_us as f64 / 1000.0)
        .fold(1.0, f64::max);
    let min_ms = curves
        .iter()
        .map(|(_, _, l)| (l.min_us.max(1)) as f64 / 1000.0)
        .fold(max_ms, f64::min)
        .min(0.1);
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "end-to-end latency (send → recipient's socket)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..4.0, (min_ms..max_ms * 1.5).log_scale())
        .map_err(|e| plot(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms (log)")
        .x_labels(5)
        .x_label_formatter(&|x: &f64| match x.round() as i32 {
            0 => "0%".into(),
            1 => "90%".into(),
            2 => "99%".into(),
            3 => "99.9%".into(),
            _ => "99.99%".into(),
        })
        .y_label_formatter(&|y: &f64| format!("{y}"))
        .draw()
        .map_err(|e| plot(&e))?;
    let mut labelled = std::collections::HashSet::new();
    for (i, _, latency) in &curves {
        let color = Palette99::pick(*i).to_rgba();
        let points = latency
            .spectrum
            .iter()
            .map(|&(p, us)| (nines(p), (us.max(1)) as f64 / 1000.0));
        let series = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| plot(&e))?;
        if labelled.insert(*i) {
            let name = groups[*i].0.clone();
            series.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| plot(&e))?;

    // Median throughput per series.
    let bars: Vec<(usize, String, f64)> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, (title, runs))| {
            let mut values: Vec<f64> = runs.iter().filter_map(|r| throughput(r)).collect();
            median(&mut values).map(|m| (i, title.clone(), m))
        })
        .collect();
    let top_rate = bars.iter().map(|b| b.2).fold(1.0, f64::max) * 1.2;
    let count = bars.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&right)
        .caption(
            "median saturation throughput (deliveries/s)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..count - 0.5, 0.0..top_rate)
        .map_err(|e| plot(&e))?;
    let names: Vec<String> = bars.iter().map(|b| b.1.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len().max(1))
        .x_label_formatter(&|x: &f64| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y: &f64| number(*y))
        .draw()
        .map_err(|e| plot(&e))?;
    for (slot, (i, _, value)) in bars.iter().enumerate() {
        let x = slot as f64;
        let color = Palette99::pick(*i).to_rgba();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, *value)],
                color.filled(),
            )))
            .map_err(|e| plot(&e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                number(*value),
                (x - 0.3, value + top_rate * 0.03),
                ("sans-serif", 14),
            )))
            .map_err(|e| plot(&e))?;
    }

    // Throughput second by second.
    let traffic: Vec<&RunRecord> = records.iter().filter(|r| is_traffic(r)).collect();
    let longest = traffic
        .iter()
        .map(|r| r.timeline.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let peak = traffic
        .iter()
        .flat_map(|r| r.timeline.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "deliveries per second, each run (colours as in the legend)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..longest as f64, 0.0..peak * 1.15)
        .map_err(|e| plot(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds since the start of the run")
        .y_label_formatter(&|y: &f64| number(*y))
        .draw()
        .map_err(|e| plot(&e))?;
    for (i, (_, runs)) in groups.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        for run in runs.iter().filter(|r| is_traffic(r)) {
            let points = run
                .timeline
                .iter()
                .enumerate()
                .map(|(s, &n)| (s as f64 + 0.5, n as f64));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(1)))
                .map_err(|e| plot(&e))?;
        }
    }
    root.present().map_err(|e| plot(&e))?;
    Ok(())
}
