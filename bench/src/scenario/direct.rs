//! `direct`: users in friend pairs, each sending to its partner (pairs split
//! across the target URLs, so with two nodes every message crosses nodes),
//! either at a fixed total rate or as fast as the windows allow: each
//! sender's own (`--in-flight`) and, with `--window`, one shared by all.

use std::collections::HashSet;

use serde_json::json;

use super::broker::{self, BrokerConn, BrokerOptions};
use super::traffic::{self, Plan, SendPlan, Shape, Traffic};
use crate::Ctx;
use crate::client::rest::Api;
use crate::client::ws::{Endpoint, To};
use crate::output::RunRecord;
use crate::progress;
use crate::target::Target;

/// Options of `direct`.
#[derive(Debug, Clone, clap::Args)]
pub struct DirectOptions {
    #[command(flatten)]
    pub target: Target,

    /// Friend pairs; both users of a pair send to each other.
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,

    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Messages per second across all senders; 0: as fast as the windows
    /// allow.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Messages each sender may have sent and not yet seen delivered.
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,

    /// Messages all senders together may have sent and not yet seen
    /// delivered: a window shared by every sender, in addition to each
    /// one's `--in-flight` (which then rarely binds: 100 pairs × 8 is far
    /// above a window of 64). The same option of `xmpp` bounds ejabberd's
    /// traffic the same way.
    #[arg(long)]
    pub window: Option<usize>,

    /// Length of each message body, in characters.
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,

    /// Most seconds to wait after sending for the last deliveries.
    #[arg(long, default_value_t = 15.0)]
    pub drain: f64,

    /// Measure the broker's ceiling (the `broker` scenario, same duration
    /// and body size) just before the traffic, and report Confab's fraction.
    #[arg(long)]
    pub compare_broker: bool,

    #[command(flatten)]
    pub broker: BrokerConn,
}

/// Runs `direct`.
pub async fn run(ctx: &Ctx, o: &DirectOptions) -> anyhow::Result<RunRecord> {
    anyhow::ensure!(o.pairs > 0, "--pairs must be at least 1");
    let params = json!({
        "urls": o.target.urls.iter().map(url::Url::as_str).collect::<Vec<_>>(),
        "pairs": o.pairs, "duration": o.duration, "rate": o.rate,
        "in_flight": o.in_flight, "window": o.window, "body_bytes": o.body_bytes,
    });
    let mut record = RunRecord::new(ctx, "direct", o.target.label.clone(), params);
    let api = Api::new(&o.target.urls)?;
    let endpoints = Endpoint::all(&o.target.urls).await?;
    let n = o.pairs * 2;

    let bar = progress::bar(ctx.quiet, n as u64, "registering");
    let users = api
        .register_many(&super::user_prefix(ctx, "d"), n, &bar)
        .await?;
    bar.finish_and_clear();
    let pairs: Vec<_> = users.chunks(2).map(|p| (&p[0], &p[1])).collect();
    let bar = progress::bar(ctx.quiet, pairs.len() as u64, "befriending");
    api.befriend_many(&pairs, &bar).await?;
    bar.finish_and_clear();

    let ceiling = if o.compare_broker {
        let options = BrokerOptions::ceiling(o.broker.clone(), o.duration, o.body_bytes);
        Some(broker::run(ctx, &options).await?)
    } else {
        None
    };

    let bar = progress::bar(ctx.quiet, n as u64, "connecting");
    let refs: Vec<_> = users.iter().collect();
    let sockets = super::connect_users(&refs, &endpoints, &bar).await?;
    bar.finish_and_clear();
    let per_sender = (o.rate > 0.0).then(|| o.rate / n as f64);
    let plans = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| Plan {
            ws,
            send: Some(SendPlan {
                index: i,
                to: To::User(users[i ^ 1].id),
                rate: per_sender,
                fanout: 1,
                body_bytes: o.body_bytes,
            }),
            witness: true,
        })
        .collect();
    let shape = Shape {
        senders: n,
        in_flight: o.in_flight,
        window: o.window,
        duration: o.duration,
        drain: o.drain,
    };
    let traffic = traffic::drive(ctx, plans, &shape, "direct").await?;

    let (e2e, confirm, mut correctness, fell_behind) = traffic.merged();
    correctness.lost = lost_between_partners(&traffic);
    let confirmed = traffic.confirmed_by_sender();
    let confirmed_total: usize = confirmed.values().map(|c| c.len()).sum();
    let delivered_per_sec = traffic.delivered as f64 / traffic.active_secs.max(1e-9);
    record.figure("delivered/s", delivered_per_sec, "msg/s");
    record.figure(
        "confirmed/s",
        confirmed_total as f64 / traffic.send_secs.max(1e-9),
        "msg/s",
    );
    record.figure("sent", traffic.sent as f64, "messages");
    record.figure("confirmed", confirmed_total as f64, "messages");
    record.figure("delivered", traffic.delivered as f64, "messages");
    record.figure("senders", n as f64, "connections");
    if o.rate > 0.0 {
        record.figure("target rate", o.rate, "msg/s");
        record.figure("fell behind schedule", fell_behind as f64, "sends dropped");
    }
    record.latencies.insert("e2e".into(), e2e.summary());
    record.latencies.insert("sent".into(), confirm.summary());
    record.timeline = traffic.timeline;
    record.correctness = correctness;
    if let Some(ceiling) = ceiling {
        if let Some(broker_rate) = ceiling.value("delivered/s").filter(|r| *r > 0.0) {
            record.figure(
                "fraction of broker ceiling",
                delivered_per_sec / broker_rate,
                "",
            );
        }
        record.ceiling = Some(Box::new(ceiling));
    }
    Ok(record)
}

/// Messages confirmed to a partner who never received them, when
/// connection `i` (sender index `i`) sends to connection `i ^ 1`.
pub fn lost_between_partners(traffic: &Traffic) -> u64 {
    let confirmed = traffic.confirmed_by_sender();
    let mut lost = 0;
    for outcome in &traffic.outcomes {
        let Some(sender) = outcome.sender else {
            continue;
        };
        let Some(partner) = traffic.outcomes.get(sender ^ 1) else {
            continue;
        };
        let sent = confirmed.get(&sender).copied().unwrap_or_default();
        lost += count_missing(sent, &partner.received);
    }
    lost
}

/// How many of `sent` are not in `received`.
pub fn count_missing(sent: &[u64], received: &HashSet<u64>) -> u64 {
    sent.iter().filter(|m| !received.contains(m)).count() as u64
}
