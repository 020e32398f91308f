//! `confab-faults`: starts a real Confab cluster (the built `confab-node` and
//! `confab-dispatcher` binaries, as processes) on loopback, drives bounded
//! chat traffic from simulated users who reconnect and re-send like real
//! clients, injects one fault at a time, waits for quiet, and checks what
//! every user received: nothing confirmed lost, no duplicate after dropping
//! repeats by `msg_id`, no conversation out of order, nothing misdelivered.
//! Exits non-zero on any violation. See `docs/guarantees.md`.

mod cluster;
mod devices;
mod diagnose;
mod ledger;
mod user;

use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::cluster::{Cluster, Fault};

/// What to run.
#[derive(Debug, Parser)]
#[command(name = "confab-faults", about = "Fault-injection harness for Confab")]
struct Args {
    /// Directory of the built binaries (`confab-node`, `confab-dispatcher`, `migrate`).
    #[arg(long, default_value = "target/debug")]
    bin: std::path::PathBuf,
    /// Simulated users (in friend pairs and groups of ten).
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Seconds of traffic per fault; the fault strikes a third of the way in.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Seconds to wait for quiet after the traffic before judging.
    #[arg(long, default_value_t = 60)]
    settle: u64,
    /// Only these faults (default: all), e.g. `--only node-kill,redis-restart`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Do not restart Postgres, Redis or RabbitMQ (for a machine shared with
    /// other work).
    #[arg(long)]
    no_service_restarts: bool,
    /// The `RUST_LOG` filter of the nodes and the dispatcher, e.g.
    /// `info,lapin=debug`. Their logs go to the temporary directory.
    #[arg(long, env = "CONFAB_FAULTS_LOG", default_value = "warn")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut faults: Vec<Fault> = Fault::ALL.to_vec();
    if !args.only.is_empty() {
        faults.retain(|f| args.only.iter().any(|o| o == f.name()));
    }
    if args.no_service_restarts {
        faults.retain(|f| !f.restarts_a_service());
    }
    let mut cluster = Cluster::start(&args.bin, &args.log)
        .await
        .context("starting the cluster")?;
    for file in cluster.log_files() {
        eprintln!("log: {}", file.display());
    }
    let result = run(&mut cluster, &args, &faults).await;
    cluster.stop().await;
    if result? {
        anyhow::bail!("guarantees violated (see the table above)");
    }
    Ok(())
}

/// Runs every fault; returns whether any violated a guarantee.
async fn run(cluster: &mut Cluster, args: &Args, faults: &[Fault]) -> anyhow::Result<bool> {
    let population = user::Population::create(cluster, args.users).await?;
    let tablets = devices::sample(&population.users);
    let node = cluster.node_addrs()[0].clone();
    devices::open_tablets(&tablets, &node).await?;
    let ledger = ledger::Ledger::new(population.audience());
    let traffic = population.start(cluster, ledger.clone());
    // Warm up: everyone connected and chatting before the first fault.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "{:<18} {:>7} {:>9} {:>9} {:>9} {:>9} {:>5} {:>6} {:>12}",
        "fault",
        "sent",
        "confirmed",
        "delivered",
        "wire dups",
        "dedup dup",
        "lost",
        "order",
        "misdelivered"
    );
    let mut failed_faults = 0;
    let mut details = Vec::new();
    for fault in faults {
        let before = ledger.snapshot();
        let metrics_before = diagnose::scrape(cluster.http(), &cluster.metric_targets()).await;
        traffic.set_sending(true);
        tokio::time::sleep(Duration::from_secs(args.seconds / 3)).await;
        cluster
            .inject(*fault)
            .await
            .with_context(|| format!("injecting {}", fault.name()))?;
        traffic.set_dropping(*fault == Fault::ClientDrops);
        tokio::time::sleep(Duration::from_secs(args.seconds - args.seconds / 3)).await;
        traffic.set_sending(false);
        traffic.set_dropping(false);
        cluster
            .heal(*fault)
            .await
            .with_context(|| format!("healing after {}", fault.name()))?;
        ledger
            .wait_for_quiet(Duration::from_secs(args.settle))
            .await;
        let report = ledger.report_since(&before);
        let metrics_after = diagnose::scrape(cluster.http(), &cluster.metric_targets()).await;
        println!("{:<18} {report}", fault.name());
        // The table stays readable; what explains each row follows it.
        let mut lines = vec![format!("{}: {}", fault.name(), diagnose::per_node(&report))];
        if !report.missing.is_empty() {
            match diagnose::stages(cluster.database_url(), &report).await {
                Ok(stages) => lines.push(format!("  missing: {stages}")),
                Err(e) => lines.push(format!("  missing: cannot classify ({e:#})")),
            }
        }
        lines.extend(
            diagnose::metric_changes(&metrics_before, &metrics_after)
                .into_iter()
                .map(|line| format!("  {line}")),
        );
        details.push(lines);
        if report.violated() {
            failed_faults += 1;
        }
    }
    println!();
    for lines in details {
        for line in lines {
            println!("{line}");
        }
    }
    traffic.stop().await;
    // Every device converges: the tablets catch up and match.
    let verdict = devices::check(&tablets, &cluster.node_addrs()[0], &ledger).await?;
    println!("{verdict}");
    // The closing line test runners print, for tools that read it.
    println!(
        "faults: {} passed, {failed_faults} failed",
        faults.len() - failed_faults
    );
    Ok(failed_faults > 0 || verdict.violated())
}
