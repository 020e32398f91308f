//! One run of the harness: the cluster started, the simulated users
//! connected, every chosen fault in turn (traffic, the fault a third of the
//! way in, heal, quiet, verdict), then the checks that span the whole run
//! (every device converged, no token in the gateway's logs), and the
//! cluster stopped.

use std::time::Duration;

use anyhow::Context;

use crate::cluster::Cluster;
use crate::config::{Config, Topology};
use crate::fault::Fault;
use crate::{devices, diagnose, ledger, user};

/// Runs the faults `config` chooses against a cluster of its own, stopped
/// at the end whatever happened; an error if any guarantee was violated.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut faults: Vec<Fault> = match config.topology {
        Topology::Single => Fault::SINGLE.to_vec(),
        Topology::Cluster => Fault::CLUSTER.to_vec(),
    };
    if !config.only.is_empty() {
        faults.retain(|f| config.only.iter().any(|o| o == f.name()));
    }
    if config.no_service_restarts {
        faults.retain(|f| !f.touches_a_service());
    }
    let mut cluster = Cluster::start(&config.bin, &config.log, config.topology)
        .await
        .context("starting the cluster")?;
    for file in cluster.log_files() {
        eprintln!("log: {}", file.display());
    }
    let result = all_faults(&mut cluster, &config, &faults).await;
    cluster.stop().await;
    if result? {
        anyhow::bail!("guarantees violated (see the table above)");
    }
    Ok(())
}

/// Runs every fault; returns whether any violated a guarantee.
async fn all_faults(
    cluster: &mut Cluster,
    config: &Config,
    faults: &[Fault],
) -> anyhow::Result<bool> {
    let population = user::Population::create(cluster, config.users).await?;
    let users = population.users.len();
    let tablets = devices::sample(&population.users);
    let gateway = cluster.gateway_addr();
    devices::open_tablets(&tablets, &gateway).await?;
    let ledger = ledger::Ledger::new(population.audience());
    let interval = Duration::from_millis(config.interval_ms);
    let traffic = population.start(cluster, ledger.clone(), interval);
    // Everyone connected before the first fault.
    ledger
        .wait_all_connected(users, Duration::from_secs(30))
        .await
        .context("connecting the users")?;
    println!(
        "{:<18} {:>7} {:>9} {:>8} {:>9} {:>9} {:>9} {:>5} {:>6} {:>12}",
        "fault",
        "sent",
        "confirmed",
        "sends/s",
        "delivered",
        "wire dups",
        "dedup dup",
        "lost",
        "order",
        "misdelivered"
    );
    let mut failed_faults = 0;
    let mut details = Vec::new();
    let mut rates = Vec::new();
    for &fault in faults {
        let outcome = one_fault(cluster, config, &ledger, &traffic, users, fault).await?;
        failed_faults += usize::from(outcome.failed);
        rates.push(outcome.rate);
        details.push(outcome.lines);
    }
    println!();
    for line in details.into_iter().flatten() {
        println!("{line}");
    }
    traffic.stop().await;
    // Every device converges: the tablets catch up and match.
    let verdict = devices::check(&tablets, &gateway, &ledger).await?;
    println!("{verdict}");
    // No log of the gateway holds a token.
    let logs = cluster.gateway.logs();
    let leaked = population
        .users
        .iter()
        .filter(|u| logs.contains(&u.token))
        .count();
    println!(
        "gateway logs: {} lines, {leaked} tokens",
        logs.lines().count()
    );
    let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    println!("confirmed sends/s while a fault ran: mean {mean:.0}, lowest {slowest:.0}");
    // The closing line test runners print, for tools that read it.
    println!(
        "faults: {} passed, {failed_faults} failed",
        faults.len() - failed_faults
    );
    Ok(failed_faults > 0 || verdict.violated() || leaked > 0)
}

/// What one fault's run gave.
struct Outcome {
    failed: bool,
    /// Confirmed sends per second during the traffic window.
    rate: f64,
    /// What explains the row, printed below the table.
    lines: Vec<String>,
}

/// Traffic, the fault a third of the way in, heal, quiet, verdict.
async fn one_fault(
    cluster: &mut Cluster,
    config: &Config,
    ledger: &ledger::Ledger,
    traffic: &user::Traffic,
    users: usize,
    fault: Fault,
) -> anyhow::Result<Outcome> {
    let before = ledger.snapshot();
    let metrics_before = diagnose::scrape(cluster.http(), &cluster.metric_targets()).await;
    let started = tokio::time::Instant::now();
    traffic.set_sending(true);
    tokio::time::sleep(Duration::from_secs(config.seconds / 3)).await;
    let struck = ledger.tick();
    let observed = cluster
        .inject(fault, ledger, users)
        .await
        .with_context(|| format!("injecting {}", fault.name()))?;
    traffic.set_dropping(fault == Fault::ClientDrops);
    tokio::time::sleep(Duration::from_secs(config.seconds - config.seconds / 3)).await;
    traffic.set_sending(false);
    traffic.set_dropping(false);
    let outage = ledger.outage(struck, ledger.tick());
    let rate = ledger.report_since(&before).confirmed() as f64 / started.elapsed().as_secs_f64();
    cluster
        .heal(fault)
        .await
        .with_context(|| format!("healing after {}", fault.name()))?;
    ledger
        .wait_for_quiet(Duration::from_secs(config.settle))
        .await;
    let report = ledger.report_since(&before);
    let metrics_after = diagnose::scrape(cluster.http(), &cluster.metric_targets()).await;
    println!("{:<18} {}", fault.name(), report.row(rate));
    // The table stays readable; what explains each row follows it.
    let mut lines = vec![format!("{}: {}", fault.name(), diagnose::summary(&report))];
    lines.push(format!(
        "  from the fault to the end of the traffic: {outage}"
    ));
    lines.extend(observed.notes.iter().map(|note| format!("  {note}")));
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
    Ok(Outcome {
        failed: report.violated() || observed.failed,
        rate,
        lines,
    })
}
