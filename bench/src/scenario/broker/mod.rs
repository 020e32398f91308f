//! `broker`: RabbitMQ's own ceiling for Confab's message shape, with no
//! Confab code in it. Publishers publish persistent messages with confirms
//! to durable queue A; a relay consumes A, republishes each message to
//! durable queue B (persistent, confirms), waits for the confirms and acks
//! the batch (as the dispatcher does); a sink consumes B and acks in batches
//! (as a node does). End-to-end latency is publish → sink, from a timestamp
//! in the payload; in-flight is bounded per publisher until the sink has
//! the message. The queues are this run's own and deleted at the end.
//!
//! With `--second-queue transient --database-url … --redis-url …` it is the
//! floor of Confab's whole path: the relay commits each batch to Postgres
//! and reads Redis once before republishing to a transient queue, as the
//! dispatcher appends, locates and publishes to node queues ([`writes`]).
//!
//! This module sets up and measures; [`hops`] holds the three stages.

mod hops;
mod writes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use lapin::options::{ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::output::{Correctness, RunRecord};
use crate::stats::{Latency, Timeline};
use crate::{Clock, Ctx, progress};

/// The broker to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerConn {
    /// RabbitMQ (the one Confab uses, to compare like with like).
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Prefix of the two queues the broker scenario declares (and deletes).
    #[arg(long, default_value = "confab-bench.")]
    pub amqp_prefix: String,
}

/// Which kind of durable queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueType {
    /// Durable classic queues (the definition of the ceiling).
    Classic,
    /// Quorum queues (what Confab's `input` is).
    Quorum,
}

/// Options of `broker`.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerOptions {
    #[command(flatten)]
    pub conn: BrokerConn,

    /// A free-form label kept in the JSON and shown in the report.
    #[arg(long)]
    pub label: Option<String>,

    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Publishers, each on its own channel.
    #[arg(long, default_value_t = 4)]
    pub publishers: usize,

    /// Messages each publisher may have published and not yet seen at the sink.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,

    /// Messages per second across all publishers; 0: as fast as the windows allow.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Payload length in bytes.
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,

    /// Most messages the relay republishes per batch (the dispatcher's 256).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,

    /// Unacked messages the relay and the sink may hold.
    #[arg(long, default_value_t = 1024)]
    pub prefetch: u16,

    /// Durable queue kind.
    #[arg(long, value_enum, default_value_t = QueueType::Classic)]
    pub queue_type: QueueType,

    /// Kind of the second queue: as the first, or transient (the kind of
    /// Confab's node queues: classic, not durable, messages not persistent).
    #[arg(long, value_enum, default_value_t = SecondQueue::Same)]
    pub second_queue: SecondQueue,

    /// Postgres the relay commits each batch to before republishing it
    /// (one multi-row insert, its own transaction): the dispatcher's append
    /// reduced to the durable write it must wait for.
    #[arg(long)]
    pub database_url: Option<String>,

    /// Redis the relay reads once per batch after the commit (`EXISTS` of
    /// the batch's senders): the dispatcher's presence read.
    #[arg(long)]
    pub redis_url: Option<String>,

    /// Most seconds to wait after publishing for the last messages.
    #[arg(long, default_value_t = 15.0)]
    pub drain: f64,
}

/// Kind of the second queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecondQueue {
    /// The kind `--queue-type` says.
    Same,
    /// Transient classic (Confab's node queues).
    Transient,
}

impl BrokerOptions {
    /// The ceiling run `direct --compare-broker` makes: defaults, with the
    /// direct run's duration and body size.
    pub fn ceiling(conn: BrokerConn, duration: f64, body_bytes: usize) -> Self {
        Self {
            conn,
            label: Some("ceiling".to_owned()),
            duration,
            publishers: 4,
            in_flight: 256,
            rate: 0.0,
            body_bytes,
            batch: 256,
            prefetch: 1024,
            queue_type: QueueType::Classic,
            second_queue: SecondQueue::Same,
            database_url: None,
            redis_url: None,
            drain: 15.0,
        }
    }
}

/// Counters the tasks share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) clock: Clock,
    pub(super) windows: Vec<Arc<Semaphore>>,
    pub(super) timeline: Timeline,
    pub(super) published: AtomicU64,
    pub(super) answered: AtomicU64,
    pub(super) confirmed: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) last_delivery: AtomicU64,
    pub(super) stop_publishing: CancellationToken,
    pub(super) stop: CancellationToken,
}

/// Runs `broker`; the queues are deleted however it ends.
pub async fn run(ctx: &Ctx, o: &BrokerOptions) -> anyhow::Result<RunRecord> {
    anyhow::ensure!(o.publishers > 0, "--publishers must be at least 1");
    let queues = [
        format!("{}{}.a", o.conn.amqp_prefix, ctx.run_id),
        format!("{}{}.b", o.conn.amqp_prefix, ctx.run_id),
    ];
    let admin = connect(&o.conn.amqp_url, "admin").await?;
    let channel = admin.create_channel().await.context("opening a channel")?;
    let writes = writes::Writes::open(
        o.database_url.as_deref(),
        o.redis_url.as_deref(),
        &ctx.run_id,
    )
    .await?;
    let mut result = async {
        declare(&channel, &queues[0], Some(o.queue_type)).await?;
        let second = match o.second_queue {
            SecondQueue::Same => Some(o.queue_type),
            SecondQueue::Transient => None,
        };
        declare(&channel, &queues[1], second).await?;
        measure(ctx, o, &queues, writes.clone()).await
    }
    .await;
    match (writes.close().await, &mut result) {
        (Err(e), Ok(_)) => result = Err(e),
        (Ok(Some(rows)), Ok(record)) => record.figure("committed", rows as f64, "messages"),
        _ => {}
    }
    for queue in &queues {
        let deleted = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        if let (Err(e), Ok(_)) = (deleted, &result) {
            result = Err(e).context("deleting the bench queues");
        }
    }
    let _ = admin.close(200, "bench done".into()).await;
    result
}

async fn connect(url: &str, role: &str) -> anyhow::Result<Connection> {
    let properties =
        ConnectionProperties::default().with_connection_name(format!("confab-bench-{role}").into());
    Connection::connect(url, properties)
        .await
        .context("connecting to RabbitMQ")
}

/// Declares `queue`: durable of `kind`, or transient classic (`None`).
async fn declare(channel: &Channel, queue: &str, kind: Option<QueueType>) -> anyhow::Result<()> {
    let mut args = FieldTable::default();
    if kind == Some(QueueType::Quorum) {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: kind.is_some(),
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .with_context(|| format!("declaring {queue}"))?;
    Ok(())
}

async fn measure(
    ctx: &Ctx,
    o: &BrokerOptions,
    queues: &[String; 2],
    writes: writes::Writes,
) -> anyhow::Result<RunRecord> {
    let params = json!({
        "duration": o.duration, "publishers": o.publishers, "in_flight": o.in_flight,
        "rate": o.rate, "body_bytes": o.body_bytes, "batch": o.batch,
        "prefetch": o.prefetch, "queue_type": format!("{:?}", o.queue_type).to_lowercase(),
        "second_queue": format!("{:?}", o.second_queue).to_lowercase(),
        "commit": o.database_url.is_some(), "presence_read": o.redis_url.is_some(),
    });
    let mut record = RunRecord::new(ctx, "broker", o.label.clone(), params);
    let clock = ctx.clock;
    let seconds = (o.duration + o.drain).ceil() as usize + 2;
    let shared = Arc::new(Shared {
        clock,
        windows: (0..o.publishers)
            .map(|_| Arc::new(Semaphore::new(o.in_flight.max(1))))
            .collect(),
        timeline: Timeline::new(clock, seconds),
        published: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        confirmed: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        last_delivery: AtomicU64::new(0),
        stop_publishing: CancellationToken::new(),
        stop: CancellationToken::new(),
    });

    let sink_conn = connect(&o.conn.amqp_url, "sink").await?;
    let relay_conn = connect(&o.conn.amqp_url, "relay").await?;
    let publish_conn = connect(&o.conn.amqp_url, "publishers").await?;
    let sink = tokio::spawn(hops::sink(
        sink_conn.create_channel().await?,
        queues[1].clone(),
        o.prefetch,
        shared.clone(),
    ));
    let relay = tokio::spawn(hops::relay(
        relay_conn.create_channel().await?,
        relay_conn.create_channel().await?,
        queues.clone(),
        hops::Relaying {
            prefetch: o.prefetch,
            batch: o.batch,
            persistent: o.second_queue == SecondQueue::Same,
            writes,
        },
        shared.clone(),
    ));
    let per_publisher = (o.rate > 0.0).then(|| o.rate / o.publishers as f64);
    let start = clock.now();
    let mut publishers = Vec::with_capacity(o.publishers);
    for index in 0..o.publishers {
        let channel = publish_conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enabling confirms")?;
        publishers.push(tokio::spawn(hops::publish(
            channel,
            queues[0].clone(),
            index,
            per_publisher,
            o.body_bytes,
            shared.clone(),
        )));
    }

    let bar = progress::timed(ctx.quiet, o.duration, "broker");
    while clock.since(start) < (o.duration * 1e9) as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.inc(1);
    }
    shared.stop_publishing.cancel();
    let send_secs = clock.since(start) as f64 / 1e9;
    bar.finish_and_clear();
    let deadline = clock.now() + (o.drain * 1e9) as u64;
    while clock.now() < deadline {
        let published = shared.published.load(Ordering::Relaxed);
        if shared.answered.load(Ordering::Relaxed) >= published
            && shared.delivered.load(Ordering::Relaxed) >= shared.confirmed.load(Ordering::Relaxed)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shared.stop.cancel();

    let mut confirm = Latency::new();
    let mut correctness = Correctness::default();
    let mut confirmed = Vec::new();
    for task in publishers {
        let (latency, seqs, errors) = task.await??;
        confirm.merge(&latency);
        correctness.merge(&errors);
        confirmed.extend(seqs);
    }
    relay.await??;
    let (e2e, received, duplicated) = sink.await??;
    for connection in [publish_conn, relay_conn, sink_conn] {
        let _ = connection.close(200, "bench done".into()).await;
    }
    correctness.lost = confirmed.iter().filter(|k| !received.contains(k)).count() as u64;
    correctness.duplicated = duplicated;
    let last = shared.last_delivery.load(Ordering::Relaxed);
    let active_secs = if last > start {
        (last - start) as f64 / 1e9
    } else {
        send_secs
    };
    let delivered = shared.delivered.load(Ordering::Relaxed);
    record.figure(
        "delivered/s",
        delivered as f64 / active_secs.max(1e-9),
        "msg/s",
    );
    record.figure(
        "confirmed/s",
        confirmed.len() as f64 / send_secs.max(1e-9),
        "msg/s",
    );
    record.figure(
        "published",
        shared.published.load(Ordering::Relaxed) as f64,
        "messages",
    );
    record.figure("confirmed", confirmed.len() as f64, "messages");
    record.figure("delivered", delivered as f64, "messages");
    if o.rate > 0.0 {
        record.figure("target rate", o.rate, "msg/s");
    }
    record.latencies.insert("e2e".into(), e2e.summary());
    record.latencies.insert("sent".into(), confirm.summary());
    record.timeline = shared.timeline.counts();
    record.correctness = correctness;
    Ok(record)
}
