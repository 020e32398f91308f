//! `xmpp`: the `direct` scenario against an XMPP server (ejabberd, started
//! by `bench/peers/ejabberd.sh`) over XMPP over WebSocket, so that Confab's
//! figures can be quoted beside a widely deployed server's, measured the
//! same way on the same machine: users in pairs each sending chat messages
//! to its partner's bare JID, the same windows (`--in-flight`, `--window`),
//! rate, body, drain, latency and correctness figures, and the same JSON.
//!
//! What differs, because XMPP has it differently: users are registered
//! beforehand (`b1`…`bN`, one password), not per run; there is no `sent`
//! confirm, so a message counts as sent when written and the window is
//! opened only by the partner's receipt (as in `direct`); there are no
//! acks to write; a message is recognised by its sender and sequence number
//! in the body, not by a server id, and as this run's by its `id` (the
//! server may hand over messages an interrupted earlier run left offline).

mod conn;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use super::pairs::{PairTraffic, lost_between_partners};
use super::traffic::{self, Merged};
use crate::Ctx;
use crate::client::ws::Ws;
use crate::client::xmpp::XmppEndpoint;
use crate::output::RunRecord;
use crate::progress;

/// Logins in flight while connecting users.
const LOGIN_CONCURRENCY: usize = 32;

/// Options of `xmpp`.
#[derive(Debug, Clone, clap::Args)]
pub struct XmppOptions {
    /// XMPP over WebSocket endpoint (RFC 7395), plain `ws://`.
    #[arg(long, default_value = "ws://127.0.0.1:5280/ws")]
    pub url: url::Url,

    /// The XMPP domain the users live on.
    #[arg(long, default_value = "bench.local")]
    pub domain: String,

    /// Users are `<prefix>1` … `<prefix>N`, N = 2 × pairs, registered
    /// beforehand (`bench/peers/ejabberd.sh users N`).
    #[arg(long, default_value = "b")]
    pub user_prefix: String,

    /// Every user's password.
    #[arg(long, default_value = "bench")]
    pub password: String,

    /// A free-form label kept in the JSON and shown in the report; give
    /// the `direct` run it is compared with the same one.
    #[arg(long)]
    pub label: Option<String>,

    #[command(flatten)]
    pub traffic: PairTraffic,
}

/// What one XMPP connection does: send to its partner, and witness what
/// the partner sends.
#[derive(Debug)]
pub struct XmppPlan {
    pub ws: Ws,
    /// This connection's sender index (its user is number `index + 1`).
    pub index: usize,
    /// This run's tag, in every message id: messages of an earlier run
    /// (stored offline by the server, delivered at login) are told apart.
    pub run_tag: String,
    /// The partner's bare JID.
    pub to: String,
    /// Messages per second; `None`: as fast as the windows allow.
    pub rate: Option<f64>,
    pub body_bytes: usize,
}

/// Runs `xmpp`.
pub async fn run(ctx: &Ctx, o: &XmppOptions) -> anyhow::Result<RunRecord> {
    let t = &o.traffic;
    let n = t.users()?;
    let mut params = t.params();
    params.insert("url".into(), json!(o.url.as_str()));
    params.insert("domain".into(), json!(o.domain));
    let mut record = RunRecord::new(ctx, "xmpp", o.label.clone(), params.into());
    let endpoint = XmppEndpoint::new(&o.url, &o.domain).await?;
    let users: Vec<String> = (1..=n).map(|i| format!("{}{i}", o.user_prefix)).collect();

    let bar = progress::bar(ctx.quiet, n as u64, "logging in");
    // One resource per run: a session left by an earlier run is not ours.
    let resource = format!("bench-{}", ctx.run_id);
    let sockets: Vec<Ws> = futures_util::stream::iter(&users)
        .map(|user| {
            let (endpoint, bar, resource) = (&endpoint, &bar, &resource);
            async move {
                let ws = endpoint.login(user, &o.password, resource).await;
                bar.inc(1);
                ws
            }
        })
        .buffered(LOGIN_CONCURRENCY)
        .try_collect()
        .await
        .context("logging the users in (is ejabberd up? bench/peers/ejabberd.sh start)")?;
    bar.finish_and_clear();

    let plans = sockets
        .into_iter()
        .enumerate()
        .map(|(index, ws)| XmppPlan {
            ws,
            index,
            run_tag: ctx.run_id.clone(),
            to: endpoint.jid(&users[index ^ 1]),
            rate: t.rate_per_sender(),
            body_bytes: t.body_bytes,
        })
        .collect();
    let traffic = traffic::drive_with(ctx, plans, &t.shape(), "xmpp", conn::run).await?;

    let Merged {
        e2e,
        mut correctness,
        fell_behind,
        late,
        ..
    } = traffic.merged();
    correctness.lost = lost_between_partners(&traffic);
    record.figure(
        "delivered/s",
        traffic.delivered as f64 / traffic.active_secs.max(1e-9),
        "msg/s",
    );
    record.figure("sent", traffic.sent as f64, "messages");
    record.figure("delivered", traffic.delivered as f64, "messages");
    record.figure("senders", n as f64, "connections");
    if t.rate > 0.0 {
        record.figure("target rate", t.rate, "msg/s");
        record.figure("fell behind schedule", fell_behind as f64, "sends dropped");
        record.latencies.insert("late".into(), late.summary());
    }
    record.latencies.insert("e2e".into(), e2e.summary());
    record.timeline = traffic.timeline;
    record.correctness = correctness;
    Ok(record)
}
