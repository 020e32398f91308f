//! `direct`: users in friend pairs, each sending to its partner (pairs split
//! across the target URLs, so with two nodes every message crosses nodes),
//! either at a fixed total rate or as fast as the windows allow: each
//! sender's own (`--in-flight`) and, with `--window`, one shared by all.

use serde_json::json;

use super::broker::{self, BrokerConn, BrokerOptions};
use super::pairs::{PairTraffic, lost_between_partners};
use super::traffic::{self, Merged, Plan, SendPlan};
use crate::Ctx;
use crate::client::rest::Api;
use crate::client::ws::{Endpoint, To};
use crate::output::RunRecord;
use crate::progress;
use crate::stages::Waterfall;
use crate::target::Target;

/// Options of `direct`.
#[derive(Debug, Clone, clap::Args)]
pub struct DirectOptions {
    #[command(flatten)]
    pub target: Target,

    #[command(flatten)]
    pub traffic: PairTraffic,

    /// Measure the broker's ceiling (the `broker` scenario, same duration
    /// and body size) just before the traffic, and report Confab's fraction.
    #[arg(long)]
    pub compare_broker: bool,

    #[command(flatten)]
    pub broker: BrokerConn,
}

/// Runs `direct`.
pub async fn run(ctx: &Ctx, o: &DirectOptions) -> anyhow::Result<RunRecord> {
    let t = &o.traffic;
    let n = t.users()?;
    let mut params = t.params();
    params.insert(
        "urls".into(),
        json!(
            o.target
                .urls
                .iter()
                .map(url::Url::as_str)
                .collect::<Vec<_>>()
        ),
    );
    let mut record = RunRecord::new(ctx, "direct", o.target.label.clone(), params.into());
    let api = Api::new(&o.target.urls)?;
    let endpoints = Endpoint::all(&o.target.urls).await?;

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
        let options = BrokerOptions::ceiling(o.broker.clone(), t.duration, t.body_bytes);
        Some(broker::run(ctx, &options).await?)
    } else {
        None
    };

    let bar = progress::bar(ctx.quiet, n as u64, "connecting");
    let refs: Vec<_> = users.iter().collect();
    let sockets = super::connect_users(&refs, &endpoints, &bar).await?;
    bar.finish_and_clear();
    let plans = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| Plan {
            ws,
            send: Some(SendPlan {
                index: i,
                to: To::User(users[i ^ 1].id),
                rate: t.rate_per_sender(),
                fanout: 1,
                body_bytes: t.body_bytes,
            }),
            witness: true,
        })
        .collect();
    let waterfall = Waterfall::start(&o.target).await?;
    let traffic = traffic::drive(ctx, plans, &t.shape(), "direct").await?;

    let Merged {
        e2e,
        confirm,
        mut correctness,
        fell_behind,
        late,
    } = traffic.merged();
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
    if t.rate > 0.0 {
        record.figure("target rate", t.rate, "msg/s");
        record.figure("fell behind schedule", fell_behind as f64, "sends dropped");
        record.latencies.insert("late".into(), late.summary());
    }
    record.latencies.insert("e2e".into(), e2e.summary());
    record.latencies.insert("sent".into(), confirm.summary());
    record.timeline = traffic.timeline;
    if let Some(waterfall) = waterfall {
        record.stages = waterfall.finish().await?;
    }
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
