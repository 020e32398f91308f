//! `connections`: open N idle authenticated WebSockets, spread over several
//! 127.0.0.x source addresses (each address has its own ~28,000 ephemeral
//! ports), hold them, and report the connect rate, the node's resident
//! memory per connection (`VmRSS` from `/proc/<pid>/status`, with
//! `--node-pid`), and heartbeat health: the server's pings each connection
//! answered while idle, connections lost while idle, and an application
//! `ping` → `pong` round trip on every connection at the end.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::rest::Api;
use crate::client::ws::{Endpoint, ServerFrame, Ws, small_buffers};
use crate::output::{Correctness, RunRecord};
use crate::stats::{Latency, Timeline};
use crate::target::Target;
use crate::{Clock, Ctx, progress};

/// How long one connect (TCP and upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the final `pong`s may take.
const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `connections`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionsOptions {
    #[command(flatten)]
    pub target: Target,

    /// Connections to open.
    #[arg(long, default_value_t = 2_000)]
    pub count: usize,

    /// Connections per user (the node allows 16 by default); users are
    /// registered for the rest.
    #[arg(long, default_value_t = 8)]
    pub per_user: usize,

    /// Source addresses 127.0.0.1 … 127.0.0.<sources>, used in turn.
    #[arg(long, default_value_t = 4)]
    pub sources: u8,

    /// Connects in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Seconds to hold the connections idle (the node pings every
    /// `WS_PING_SECS`, 20 s by default).
    #[arg(long, default_value_t = 30.0)]
    pub hold: f64,

    /// Where to register the users (REST), if not at `--url`: registering
    /// hashes passwords, whose memory the node's allocator may keep, which
    /// would blur the node's memory per connection.
    #[arg(long = "rest-url")]
    pub rest_urls: Vec<url::Url>,

    /// Pid of a local node, to read its resident memory. Repeat for several
    /// nodes (their memory is summed).
    #[arg(long = "node-pid")]
    pub node_pids: Vec<u32>,
}

/// One held connection's end.
#[derive(Debug, Default)]
struct Held {
    server_pings: u64,
    pong: Option<u64>,
    lost: Option<String>,
}

/// Runs `connections`.
pub async fn run(ctx: &Ctx, o: &ConnectionsOptions) -> anyhow::Result<RunRecord> {
    anyhow::ensure!(
        o.count > 0 && o.per_user > 0 && o.sources > 0,
        "--count, --per-user and --sources must be positive"
    );
    let params = json!({
        "urls": o.target.urls.iter().map(url::Url::as_str).collect::<Vec<_>>(),
        "rest_urls": o.rest_urls.iter().map(url::Url::as_str).collect::<Vec<_>>(),
        "count": o.count, "per_user": o.per_user, "sources": o.sources,
        "concurrency": o.concurrency, "hold": o.hold, "node_pids": o.node_pids,
    });
    let mut record = RunRecord::new(ctx, "connections", o.target.label.clone(), params);
    let clock = ctx.clock;
    let rest = if o.rest_urls.is_empty() {
        &o.target.urls
    } else {
        &o.rest_urls
    };
    let api = Api::new(rest)?;
    let endpoints = Endpoint::all(&o.target.urls).await?;
    let sources: Vec<IpAddr> = (1..=o.sources)
        .map(|x| IpAddr::V4(Ipv4Addr::new(127, 0, 0, x)))
        .collect();

    let user_count = o.count.div_ceil(o.per_user);
    let bar = progress::bar(ctx.quiet, user_count as u64, "registering");
    let users = api
        .register_many(&super::user_prefix(ctx, "c"), user_count, &bar)
        .await?;
    bar.finish_and_clear();

    let rss_before = rss_kib(&o.node_pids)?;
    let stop = CancellationToken::new();
    let ping_now = CancellationToken::new();
    let pongs = Arc::new(AtomicU64::new(0));
    let timeline = Timeline::new(clock, 3600);
    let mut connect = Latency::new();
    let mut correctness = Correctness::default();
    let mut held = Vec::with_capacity(o.count);

    let bar = progress::bar(ctx.quiet, o.count as u64, "connecting");
    let started = clock.now();
    let mut attempts = futures_util::stream::iter(0..o.count)
        .map(|i| {
            let endpoint = &endpoints[i % endpoints.len()];
            let user = &users[i % users.len()];
            let source = sources[i % sources.len()];
            async move {
                let at = clock.now();
                let ws = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    endpoint.connect(&user.token, Some(source), small_buffers()),
                )
                .await;
                (ws, clock.since(at))
            }
        })
        .buffer_unordered(o.concurrency.max(1));
    while let Some((ws, took)) = attempts.next().await {
        bar.inc(1);
        match ws {
            Ok(Ok(ws)) => {
                connect.record_nanos(took);
                timeline.add(1);
                held.push(tokio::spawn(hold(
                    ws,
                    clock,
                    stop.clone(),
                    ping_now.clone(),
                    pongs.clone(),
                )));
            }
            Ok(Err(e)) => correctness.error(format!("connect failed: {}", root_cause(&e))),
            Err(_) => correctness.error("connect timed out"),
        }
    }
    drop(attempts);
    let open_secs = clock.since(started) as f64 / 1e9;
    bar.finish_and_clear();
    let opened = held.len();
    let rss_open = rss_kib(&o.node_pids)?;

    let bar = progress::timed(ctx.quiet, o.hold, "holding");
    let hold_until = clock.now() + (o.hold.max(0.0) * 1e9) as u64;
    while clock.now() < hold_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rss_held = rss_kib(&o.node_pids)?;

    ping_now.cancel();
    let deadline = clock.now() + PONG_TIMEOUT.as_nanos() as u64;
    while pongs.load(Ordering::Relaxed) < opened as u64 && clock.now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let mut pong = Latency::new();
    let (mut server_pings, mut lost) = (0u64, 0u64);
    for task in held {
        let h = task.await?;
        server_pings += h.server_pings;
        if let Some(rtt) = h.pong {
            pong.record_nanos(rtt);
        }
        if let Some(why) = h.lost {
            lost += 1;
            correctness.error(why);
        }
    }
    let unanswered = opened as u64 - pong.count();

    record.figure("connections opened", opened as f64, "connections");
    record.figure(
        "connect rate",
        opened as f64 / open_secs.max(1e-9),
        "connections/s",
    );
    record.figure("users", user_count as f64, "users");
    record.figure("source addresses", f64::from(o.sources), "addresses");
    record.figure("held", o.hold, "s");
    record.figure("lost while idle", lost as f64, "connections");
    record.figure("server pings answered", server_pings as f64, "pings");
    record.figure(
        "server pings per connection",
        server_pings as f64 / opened.max(1) as f64,
        "pings",
    );
    record.figure("no pong at the end", unanswered as f64, "connections");
    if let (Some(before), Some(open), Some(held)) = (rss_before, rss_open, rss_held) {
        let per = |after: u64| after.saturating_sub(before) as f64 * 1024.0 / opened.max(1) as f64;
        record.figure("node RSS before", before as f64 / 1024.0, "MiB");
        record.figure("node RSS held", held as f64 / 1024.0, "MiB");
        record.figure("node RSS per connection (opened)", per(open), "bytes");
        record.figure("node RSS per connection (held)", per(held), "bytes");
    }
    if let Ok(Some(own)) = rss_kib(&[std::process::id()]) {
        record.figure("bench RSS", own as f64 / 1024.0, "MiB");
    }
    record.latencies.insert("connect".into(), connect.summary());
    record.latencies.insert("pong".into(), pong.summary());
    record.timeline = timeline.counts();
    correctness.lost = lost;
    record.correctness = correctness;
    Ok(record)
}

/// Keeps one connection open and reading (so that the library answers the
/// server's pings) until `stop`; sends one `ping` when `ping_now` fires.
async fn hold(
    mut ws: Ws,
    clock: Clock,
    stop: CancellationToken,
    ping_now: CancellationToken,
    pongs: Arc<AtomicU64>,
) -> Held {
    let mut held = Held::default();
    let mut pinged: Option<u64> = None;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = ping_now.cancelled(), if pinged.is_none() => {
                pinged = Some(clock.now());
                if let Err(e) = ws.send(Message::text(r#"{"type":"ping"}"#)).await {
                    held.lost = Some(format!("ping failed: {e}"));
                    return held;
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Ping(_))) => held.server_pings += 1,
                Some(Ok(Message::Text(text))) => {
                    if let (Ok(ServerFrame::Pong), Some(at)) = (ServerFrame::parse(text.as_str()), pinged)
                        && held.pong.is_none()
                    {
                        held.pong = Some(clock.since(at));
                        pongs.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(Message::Close(close))) => {
                    let code = close.map_or(1005, |c| u16::from(c.code));
                    held.lost = Some(format!("closed by the server ({code})"));
                    return held;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    held.lost = Some(format!("socket error: {}", e));
                    return held;
                }
                None => {
                    held.lost = Some("connection ended".to_owned());
                    return held;
                }
            },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    held
}

/// Resident memory of `pids` together, in KiB; `None` without pids.
fn rss_kib(pids: &[u32]) -> anyhow::Result<Option<u64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut total = 0;
    for pid in pids {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {path}: {e} (is --node-pid a local process?)"))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| anyhow::anyhow!("{path} has no VmRSS line"))?;
        total += kib;
    }
    Ok(Some(total))
}

/// The innermost cause of a connect failure, for grouping errors.
fn root_cause(e: &anyhow::Error) -> String {
    let text = e.root_cause().to_string();
    text.chars().take(80).collect()
}
