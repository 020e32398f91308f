//! `group`: one group of G members, the first `online` of them connected
//! (alternating over the target URLs), a few of them sending. Every message
//! fans out to every other online member; offline members get it stored.
//! Each sender's window is opened by one witness member (online, not a
//! sender), so in-flight is bounded by what actually reached a recipient.

use serde_json::json;

use super::traffic::{self, Merged, Plan, SendPlan, Shape, count_missing};
use crate::Ctx;
use crate::client::rest::Api;
use crate::client::ws::{Endpoint, To};
use crate::output::RunRecord;
use crate::progress;
use crate::stages::Waterfall;
use crate::target::Target;

/// Options of `group`.
#[derive(Debug, Clone, clap::Args)]
pub struct GroupOptions {
    #[command(flatten)]
    pub target: Target,

    /// Members of the group, owner included (the node allows 2,000 by default).
    #[arg(long, default_value_t = 200)]
    pub members: usize,

    /// Members that stay offline (their copies are only stored).
    #[arg(long, default_value_t = 20)]
    pub offline: usize,

    /// Online members that send.
    #[arg(long, default_value_t = 4)]
    pub senders: usize,

    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Group messages per second across all senders; 0: as fast as the
    /// windows allow.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Messages each sender may have sent and not yet seen delivered (to
    /// its witness).
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,

    /// Length of each message body, in characters.
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,

    /// Most seconds to wait after sending for the last deliveries.
    #[arg(long, default_value_t = 20.0)]
    pub drain: f64,
}

/// Runs `group`.
pub async fn run(ctx: &Ctx, o: &GroupOptions) -> anyhow::Result<RunRecord> {
    let online = o.members.saturating_sub(o.offline);
    anyhow::ensure!(
        o.senders >= 1 && online > o.senders,
        "need at least one sender and more online members than senders (one online non-sender is the witness)"
    );
    let params = json!({
        "urls": o.target.urls.iter().map(url::Url::as_str).collect::<Vec<_>>(),
        "members": o.members, "offline": o.offline, "senders": o.senders,
        "duration": o.duration, "rate": o.rate, "in_flight": o.in_flight,
        "body_bytes": o.body_bytes,
    });
    let mut record = RunRecord::new(ctx, "group", o.target.label.clone(), params);
    let api = Api::new(&o.target.urls)?;
    let endpoints = Endpoint::all(&o.target.urls).await?;

    let bar = progress::bar(ctx.quiet, o.members as u64, "registering");
    let users = api
        .register_many(&super::user_prefix(ctx, "g"), o.members, &bar)
        .await?;
    bar.finish_and_clear();
    let owner = &users[0];
    let friendships: Vec<_> = users[1..].iter().map(|u| (owner, u)).collect();
    let bar = progress::bar(ctx.quiet, friendships.len() as u64, "befriending");
    api.befriend_many(&friendships, &bar).await?;
    bar.finish_and_clear();
    let member_ids: Vec<i64> = users[1..].iter().map(|u| u.id).collect();
    let group = api
        .create_group(owner, &format!("bench {}", ctx.run_id), &member_ids)
        .await?;

    let bar = progress::bar(ctx.quiet, online as u64, "connecting");
    let refs: Vec<_> = users[..online].iter().collect();
    let sockets = super::connect_users(&refs, &endpoints, &bar).await?;
    bar.finish_and_clear();
    let witness = online - 1;
    let per_sender = (o.rate > 0.0).then(|| o.rate / o.senders as f64);
    let plans = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| Plan {
            ws,
            send: (i < o.senders).then(|| SendPlan {
                index: i,
                to: To::Group(group),
                rate: per_sender,
                fanout: (online - 1) as u64,
                body_bytes: o.body_bytes,
            }),
            witness: i == witness,
        })
        .collect();
    let shape = Shape {
        senders: o.senders,
        in_flight: o.in_flight,
        window: None,
        duration: o.duration,
        drain: o.drain,
    };
    let waterfall = Waterfall::start(&o.target).await?;
    let traffic = traffic::drive(ctx, plans, &shape, "group").await?;

    // Lost: for every online member, what the other senders had confirmed
    // and it never received.
    let confirmed = traffic.confirmed_by_sender();
    let mut lost = 0;
    for (member, outcome) in traffic.outcomes.iter().enumerate() {
        for (&sender, sent) in &confirmed {
            if sender != member {
                lost += count_missing(sent, &outcome.received);
            }
        }
    }
    let Merged {
        e2e,
        confirm,
        mut correctness,
        fell_behind,
        late,
    } = traffic.merged();
    correctness.lost = lost;
    let messages: usize = confirmed.values().map(|c| c.len()).sum();
    record.figure(
        "deliveries/s",
        traffic.delivered as f64 / traffic.active_secs.max(1e-9),
        "deliveries/s",
    );
    record.figure(
        "group messages/s (confirmed)",
        messages as f64 / traffic.send_secs.max(1e-9),
        "msg/s",
    );
    record.figure("group messages confirmed", messages as f64, "messages");
    record.figure("deliveries", traffic.delivered as f64, "deliveries");
    record.figure("deliveries expected", traffic.expected as f64, "deliveries");
    record.figure("members online", online as f64, "connections");
    record.figure("members offline", o.offline as f64, "users");
    if o.rate > 0.0 {
        record.figure("target rate", o.rate, "msg/s");
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
    Ok(record)
}
