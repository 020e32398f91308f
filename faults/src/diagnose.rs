//! What the harness prints beside each verdict, so that a failure explains
//! itself: the services' own metrics before and after the fault, and, for
//! every message still missing, whether its recipient is connected and how
//! far it got (never stored; stored in the recipient's inbox but never written
//! to the socket).

use std::collections::BTreeMap;

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use crate::ledger::Report;

/// The counters worth comparing across a fault, per kind of process.
const NODE_SERIES: &[(&str, &str)] = &[
    ("accepted", "confab_messages_accepted_total"),
    (
        "unavailable",
        "confab_sends_refused_total{reason=\"unavailable\"}",
    ),
    ("delivered", "confab_messages_delivered_total"),
    ("replayed", "confab_messages_replayed_total"),
    ("acks", "confab_acks_total"),
    ("slow-closes", "confab_slow_consumer_closes_total"),
    ("connections", "confab_ws_connections"),
];
const DISPATCHER_SERIES: &[(&str, &str)] = &[
    ("envelopes", "confab_dispatch_envelopes_total"),
    ("redelivered", "confab_dispatch_redeliveries_total"),
    ("retries", "confab_dispatch_retries_total"),
    ("logged", "confab_messages_logged_total"),
    ("published", "confab_deliveries_published_total"),
    ("returned", "confab_deliveries_returned_total"),
];

/// One scrape of every process: process name → series → value.
#[derive(Debug, Clone, Default)]
pub struct Metrics(BTreeMap<String, BTreeMap<String, f64>>);

impl Metrics {
    /// The value of `series` in process `process`'s last scrape.
    pub fn value(&self, process: &str, series: &str) -> Option<f64> {
        self.0.get(process)?.get(series).copied()
    }
}

/// Reads the Prometheus text of `name` at `addr`; an unreachable process
/// (killed by the fault) has no entry.
pub async fn scrape(http: &reqwest::Client, targets: &[(String, String)]) -> Metrics {
    let mut all = BTreeMap::new();
    for (name, addr) in targets {
        let Ok(response) = http.get(format!("http://{addr}/metrics")).send().await else {
            continue;
        };
        let Ok(text) = response.text().await else {
            continue;
        };
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                Some((key.to_owned(), value.parse().ok()?))
            })
            .collect();
        all.insert(name.clone(), series);
    }
    Metrics(all)
}

/// One line per process: each counter's change across the fault (`↺` marks
/// a process that restarted, whose counters began again at zero).
pub fn metric_changes(before: &Metrics, after: &Metrics) -> Vec<String> {
    let mut lines = Vec::new();
    for (process, now) in &after.0 {
        let series = if process.starts_with("node") {
            NODE_SERIES
        } else {
            DISPATCHER_SERIES
        };
        let then = before.0.get(process);
        let mut parts = Vec::new();
        for (label, key) in series {
            let now = now.get(*key).copied().unwrap_or(0.0);
            let then = then.and_then(|t| t.get(*key)).copied().unwrap_or(0.0);
            parts.push(if *label == "connections" {
                format!("{label} {now}")
            } else if now >= then {
                format!("{label} +{}", now - then)
            } else {
                format!("{label} ↺{now}")
            });
        }
        lines.push(format!("{process:<10} {}", parts.join(", ")));
    }
    lines
}

/// Frames received in the phase, and missing messages by whether their
/// recipient is connected now.
pub fn summary(report: &Report) -> String {
    let online = report.missing.iter().filter(|(_, _, on)| *on).count();
    format!(
        "delivered {}; missing {} ({online} to users connected now)",
        report.delivered(),
        report.missing.len()
    )
}

/// How far each missing message got, from the cluster's database: logged
/// and past the recipient's device position (routed, then lost between the
/// node queue and the socket, with no catch-up since), logged but behind it
/// (acked by that device), or never logged (lost before the dispatcher).
pub async fn stages(database_url: &str, report: &Report) -> anyhow::Result<String> {
    if report.missing.is_empty() {
        return Ok(String::new());
    }
    let rows: Vec<String> = report
        .missing
        .iter()
        .filter_map(|(recipient, msg_id, _)| {
            let msg_id: i64 = msg_id.parse().ok()?;
            Some(format!("({recipient}::bigint, {msg_id}::bigint)"))
        })
        .collect();
    let sql = format!(
        "WITH lost(recipient_id, msg_id) AS (VALUES {})
         SELECT count(*) FILTER (WHERE m.msg_id IS NOT NULL AND m.seq > COALESCE(dp.seq, 0)),
                count(*) FILTER (WHERE m.msg_id IS NOT NULL AND m.seq <= COALESCE(dp.seq, 0)),
                count(*) FILTER (WHERE m.msg_id IS NULL)
         FROM lost l
         LEFT JOIN messages m ON m.msg_id = l.msg_id
         LEFT JOIN device_positions dp ON dp.user_id = l.recipient_id
              AND dp.device = 'default' AND dp.conv_id = m.conv_id;",
        rows.join(",")
    );
    let mut psql = tokio::process::Command::new("psql")
        .args([database_url, "-tAq", "-F", " "])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running psql")?;
    let mut stdin = psql.stdin.take().context("psql stdin")?;
    stdin.write_all(sql.as_bytes()).await?;
    drop(stdin);
    let output = psql.wait_with_output().await?;
    let counts = String::from_utf8_lossy(&output.stdout);
    let counts: Vec<&str> = counts.split_whitespace().collect();
    let [pending, acked, never_logged] = counts[..] else {
        anyhow::bail!("unexpected psql output: {counts:?}");
    };
    Ok(format!(
        "logged, not acked by the device: {pending}; logged, acked by the device: {acked}; never logged: {never_logged}"
    ))
}
