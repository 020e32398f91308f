//! `offline`: a sender stores K messages for a recipient whose device is
//! away (it connected once, so the server knows it, then left); the device
//! then reconnects and the clock runs until it has all K (acking as it goes,
//! as a client should). A device never seen before would be written only
//! the newest 500 of a conversation (the rest is in the history).
//!
//! To start the clock only once every message is *stored* (not merely
//! accepted by the broker), the sender finally writes one message to a third,
//! online user, the witness: the dispatcher routes `input` in order and
//! stores before it pushes, so when the witness has that message, the K
//! before it are in the conversation's log. All through the public contract.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::Body;
use crate::client::rest::Api;
use crate::client::ws::{
    Endpoint, ServerFrame, To, Ws, ack_frame, msg_id, send_frame, traffic_buffers,
};
use crate::output::{Correctness, RunRecord};
use crate::stats::Latency;
use crate::target::Target;
use crate::{Clock, Ctx, progress};

/// Options of `offline`.
#[derive(Debug, Clone, clap::Args)]
pub struct OfflineOptions {
    #[command(flatten)]
    pub target: Target,

    /// Messages stored for the offline user.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,

    /// Sends awaiting their `sent` answer. The contract allows 256 per
    /// connection, but above about 100 the node stalls for seconds at a
    /// time (see BENCHMARKS.md, "Server bugs found").
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,

    /// Length of each message body, in characters.
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,

    /// Most seconds each phase (storing, draining) may take.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,

    /// After the drain, reconnect once and count messages that come again
    /// although they were acked.
    #[arg(long)]
    pub verify: bool,
}

/// Runs `offline`.
pub async fn run(ctx: &Ctx, o: &OfflineOptions) -> anyhow::Result<RunRecord> {
    anyhow::ensure!(o.messages > 0, "--messages must be at least 1");
    let params = json!({
        "urls": o.target.urls.iter().map(url::Url::as_str).collect::<Vec<_>>(),
        "messages": o.messages, "in_flight": o.in_flight, "body_bytes": o.body_bytes,
    });
    let mut record = RunRecord::new(ctx, "offline", o.target.label.clone(), params);
    let api = Api::new(&o.target.urls)?;
    let endpoints = Endpoint::all(&o.target.urls).await?;
    let far = &endpoints[1 % endpoints.len()];
    let timeout = Duration::from_secs_f64(o.timeout);
    let clock = ctx.clock;

    let bar = progress::bar(ctx.quiet, 3, "registering");
    let users = api
        .register_many(&super::user_prefix(ctx, "o"), 3, &bar)
        .await?;
    bar.finish_and_clear();
    let (sender, recipient, witness) = (&users[0], &users[1], &users[2]);
    api.befriend(sender, recipient).await?;
    api.befriend(sender, witness).await?;

    // The recipient's device connects once, so that it is known: the
    // `pong` comes after its replay on connect, which opened the device.
    let mut away = far
        .connect(&recipient.token, None, traffic_buffers())
        .await?;
    away.send(Message::text(json!({"type": "ping"}).to_string()))
        .await?;
    tokio::time::timeout(timeout, count_until_pong(&mut away))
        .await
        .context("no pong within --timeout")??;
    let _ = away.close(None).await;

    let mut sender_ws = endpoints[0]
        .connect(&sender.token, None, traffic_buffers())
        .await?;
    let mut witness_ws = far.connect(&witness.token, None, traffic_buffers()).await?;
    let bar = progress::bar(ctx.quiet, o.messages as u64, "storing");
    let mut correctness = Correctness::default();
    let mut confirm = Latency::new();
    let stored = send_all(
        &mut sender_ws,
        recipient.id,
        o,
        clock,
        &mut confirm,
        &mut correctness,
        &bar,
    )
    .await?;
    bar.finish_and_clear();

    // The barrier: one message to the witness, routed after all of them.
    let marker = send_frame(u64::MAX, To::User(witness.id), "barrier");
    sender_ws.send(Message::text(marker)).await?;
    tokio::time::timeout(timeout, next_message(&mut witness_ws))
        .await
        .context("the barrier message did not arrive within --timeout")??;
    let _ = sender_ws.close(None).await;
    let _ = witness_ws.close(None).await;

    // The drain, from the recipient's TCP connect to its last message.
    let bar = progress::bar(ctx.quiet, stored.len() as u64, "draining");
    let expected: HashSet<u64> = stored.iter().copied().collect();
    let started = clock.now();
    let mut ws = far
        .connect(&recipient.token, None, traffic_buffers())
        .await?;
    let connected = clock.since(started);
    let mut arrival = Latency::new();
    let drain = tokio::time::timeout(
        timeout,
        drain(
            &mut ws,
            &expected,
            clock,
            started,
            &mut arrival,
            &mut correctness,
            &bar,
        ),
    )
    .await;
    bar.finish_and_clear();
    let (received, first, last) = match drain {
        Ok(result) => result?,
        Err(_) => {
            correctness.error("drain timed out");
            (HashSet::new(), 0, clock.since(started))
        }
    };
    correctness.lost = expected.difference(&received).count() as u64;
    let seconds = last as f64 / 1e9;

    record.figure("drain time", seconds, "s");
    record.figure(
        "drain rate",
        received.len() as f64 / seconds.max(1e-9),
        "msg/s",
    );
    record.figure("messages stored", stored.len() as f64, "messages");
    record.figure("messages drained", received.len() as f64, "messages");
    record.figure("connect (TCP + upgrade)", connected as f64 / 1e6, "ms");
    record.figure(
        "first message after connect start",
        first as f64 / 1e6,
        "ms",
    );
    if o.verify {
        // Acks are written in batches within milliseconds; give them time.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = ws.close(None).await;
        let mut again = far
            .connect(&recipient.token, None, traffic_buffers())
            .await?;
        // The contract answers a client's frames only after the replay on
        // connect is written: the `pong` marks the replay's end.
        again
            .send(Message::text(json!({"type": "ping"}).to_string()))
            .await?;
        let repeated = tokio::time::timeout(timeout, count_until_pong(&mut again))
            .await
            .context("no pong within --timeout")??;
        let _ = again.close(None).await;
        record.figure("redelivered after ack", repeated as f64, "messages");
    } else {
        let _ = ws.close(None).await;
    }

    record.latencies.insert("sent".into(), confirm.summary());
    record.latencies.insert("arrival".into(), arrival.summary());
    record.correctness = correctness;
    Ok(record)
}

/// Sends `o.messages` to `to`, `o.in_flight` awaiting their answer at most;
/// returns the confirmed `msg_id`s.
async fn send_all(
    ws: &mut Ws,
    to: i64,
    o: &OfflineOptions,
    clock: Clock,
    confirm: &mut Latency,
    correctness: &mut Correctness,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<u64>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(o.timeout);
    let mut sent_at = std::collections::HashMap::new();
    let mut confirmed = Vec::with_capacity(o.messages);
    let mut next = 0u64;
    while next < o.messages as u64 || !sent_at.is_empty() {
        while next < o.messages as u64 && sent_at.len() < o.in_flight.max(1) {
            let now = clock.now();
            let body = Body {
                sender: 0,
                seq: next,
                sent: now,
            }
            .encode(o.body_bytes);
            ws.feed(Message::text(send_frame(next, To::User(to), &body)))
                .await?;
            sent_at.insert(next, now);
            next += 1;
        }
        ws.flush().await?;
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "storing took longer than --timeout: {} of {} confirmed, {} sends unanswered",
                    confirmed.len(),
                    o.messages,
                    sent_at.len()
                )
            })?;
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e).context("the sender's connection failed"),
            None => bail!("the sender's connection closed"),
        };
        match ServerFrame::parse(text.as_str())? {
            ServerFrame::Sent { id, msg_id: m } => {
                if let Some(at) = id.parse().ok().and_then(|id| sent_at.remove(&id)) {
                    confirm.record_nanos(clock.since(at));
                }
                confirmed.push(msg_id(&m)?);
                bar.inc(1);
            }
            ServerFrame::Error { id, code } => {
                correctness.error(code);
                if let Some(id) = id.and_then(|id| id.parse().ok()) {
                    sent_at.remove(&id);
                }
                bar.inc(1);
            }
            _ => {}
        }
    }
    Ok(confirmed)
}

/// How many `message` frames come before the next `pong`.
async fn count_until_pong(ws: &mut Ws) -> anyhow::Result<u64> {
    let mut messages = 0;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        match ServerFrame::parse(text.as_str())? {
            ServerFrame::Message { .. } => messages += 1,
            ServerFrame::Pong => return Ok(messages),
            _ => {}
        }
    }
    bail!("the connection closed before the pong")
}

/// The next `message` frame on `ws`.
async fn next_message(ws: &mut Ws) -> anyhow::Result<()> {
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame?
            && let ServerFrame::Message { .. } = ServerFrame::parse(text.as_str())?
        {
            return Ok(());
        }
    }
    bail!("the connection closed first")
}

/// Reads until every `expected` id arrived, acking in batches; returns what
/// arrived and the clock offsets (from `started`) of the first and last.
async fn drain(
    ws: &mut Ws,
    expected: &HashSet<u64>,
    clock: Clock,
    started: u64,
    arrival: &mut Latency,
    correctness: &mut Correctness,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(HashSet<u64>, u64, u64)> {
    let mut received = HashSet::with_capacity(expected.len());
    let mut acks = Vec::with_capacity(1000);
    let (mut first, mut last, mut got) = (0, 0, 0);
    while got < expected.len() {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e).context("the recipient's connection failed"),
            None => bail!("the recipient's connection closed"),
        };
        let ServerFrame::Message { msg_id: m, .. } = ServerFrame::parse(text.as_str())? else {
            continue;
        };
        let m = msg_id(&m)?;
        let at = clock.since(started);
        if received.is_empty() {
            first = at;
        }
        acks.push(m);
        if !received.insert(m) {
            correctness.duplicated += 1;
        } else if expected.contains(&m) {
            got += 1;
            arrival.record_nanos(at);
            last = at;
            bar.inc(1);
        }
        if acks.len() == 1000 {
            ws.send(Message::text(ack_frame(&acks))).await?;
            acks.clear();
        }
    }
    if !acks.is_empty() {
        ws.send(Message::text(ack_frame(&acks))).await?;
    }
    Ok((received, first, last))
}
