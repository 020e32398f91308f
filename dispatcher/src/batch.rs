//! One batch of an `input` shard as a unit of work, in two stages that
//! overlap across batches:
//! 1. [`Dispatch::route_batch`]: decode (poison to `input.dead`), put in
//!    `msg_id` order, route (append to the logs, then presence, then the
//!    plan), retrying while Postgres or Redis is down;
//! 2. [`publish_stage`]: publish each node's bundle, wait for every
//!    confirm, then ack the batch with one `multiple` ack — while stage 1
//!    already routes the next batch.
//!
//! Publishes are issued in batch order on one channel, so node queues get
//! each conversation in `seq` order; acks go out in batch order, each only
//! after its batch's confirms. Nothing is acked before it is in its log and
//! every delivery is confirmed, so a dispatcher that dies mid-batch loses
//! nothing: the broker hands what it held to the next active dispatcher,
//! and routing it again changes nothing (a logged message keeps its seq;
//! repeated deliveries carry the same `seq` and are dropped by the node).

use std::pin::Pin;
use std::time::{Duration, Instant};

use confab_common::broker::{self, Broker, BrokerError};
use confab_common::envelope::{Envelope, Input, Notice, Signal};
use confab_common::metric::Stage;
use confab_common::retry::Backoff;
use confab_common::{metric, topology};
use futures_util::StreamExt;
use futures_util::future::try_join_all;
use futures_util::stream::FuturesOrdered;
use lapin::Acker;
use lapin::Channel;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::BasicRejectOptions;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::Outgoing;
use crate::route::Router;

/// Batches published and not yet confirmed, at most: stage 1 waits when
/// stage 2 is this far behind.
pub const IN_FLIGHT_BATCHES: usize = 4;

/// Why a batch was left unacked (the broker hands it out again).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The broker connection failed: the consumer reconnects.
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// The broker refused a delivery: the consumer reconnects, and the
    /// batches it held are routed again.
    #[error("the broker refused a delivery")]
    Nacked,
    /// Shutdown came while the batch could not be routed; the next
    /// dispatcher gets it.
    #[error("stopped while the batch could not be routed")]
    Stopped,
}

/// A batch, decoded.
#[derive(Debug)]
struct Decoded {
    messages: Vec<Envelope>,
    signals: Vec<Signal>,
    notices: Vec<Notice>,
    /// What acks the batch: the last delivery that decoded. Not simply the
    /// last delivery: lapin's copies of one delivery's acker share its
    /// "used" flag, so after a poison delivery's reject an ack through it
    /// would silently do nothing, and the batch would stay unacked.
    last: Option<Acker>,
}

/// A routed batch, for stage 2: its bundles, and what acks it.
#[derive(Debug)]
pub struct Planned {
    outgoing: Vec<Outgoing>,
    /// The batch's last delivery (acked with `multiple`); `None` if the
    /// batch was empty.
    last: Option<Acker>,
    messages: usize,
    received: Instant,
}

/// What routing a batch needs.
#[derive(Debug, Clone, Copy)]
pub struct Dispatch<'a> {
    pub router: &'a Router,
    pub broker: &'a Broker,
    pub shutdown: &'a CancellationToken,
}

impl Dispatch<'_> {
    /// Stage 1: decodes and routes `batch`, retrying while Postgres or
    /// Redis is down.
    pub async fn route_batch(&self, batch: Vec<AmqpDelivery>) -> Result<Planned, BatchError> {
        let received = Instant::now();
        let redelivered = batch.iter().filter(|d| d.redelivered).count() as u64;
        metrics::counter!(metric::DISPATCH_REDELIVERIES).increment(redelivered);
        let mut decoded = self.decode(&batch).await?;
        Stage::Received.reached_all(decoded.messages.iter().filter_map(|e| e.read_us));
        // Messages of one sender carry increasing ids; routing a batch in id
        // order undoes any reordering the broker did on redelivery.
        decoded.messages.sort_by_key(|e| e.message.msg_id);
        let outgoing = self.route_until_done(&decoded).await?;
        metrics::histogram!(metric::DISPATCH_ROUTE_SECONDS)
            .record(received.elapsed().as_secs_f64());
        let now = confab_common::ids::now_ms();
        for envelope in &decoded.messages {
            let after = (now - envelope.message.ts).max(0) as f64 / 1000.0;
            metrics::histogram!(metric::DISPATCH_LOGGED_AFTER_SECONDS).record(after);
        }
        Ok(Planned {
            outgoing,
            last: decoded.last.take(),
            messages: decoded.messages.len(),
            received,
        })
    }

    /// The messages and signals of `batch` (each AMQP message holds one item
    /// or an array of them); an undecodable one is poison (it never will
    /// decode) and goes to `input.dead`.
    async fn decode(&self, batch: &[AmqpDelivery]) -> Result<Decoded, BrokerError> {
        let mut decoded = Decoded {
            messages: Vec::with_capacity(batch.len()),
            signals: Vec::new(),
            notices: Vec::new(),
            last: None,
        };
        for delivery in batch {
            match Input::decode_all(&delivery.data) {
                Ok(items) => {
                    decoded.last = Some(delivery.acker.clone());
                    for item in items {
                        match item {
                            Input::Message(envelope) => decoded.messages.push(envelope),
                            Input::Signal(signal) => decoded.signals.push(signal),
                            Input::Notice(notice) => decoded.notices.push(notice),
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "undecodable envelope dead-lettered");
                    metrics::counter!(metric::DISPATCH_POISON).increment(1);
                    let reject = delivery.acker.reject(BasicRejectOptions { requeue: false });
                    self.broker.bounded("basic.reject poison", reject).await?;
                }
            }
        }
        Ok(decoded)
    }

    async fn route_until_done(&self, decoded: &Decoded) -> Result<Vec<Outgoing>, BatchError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let routed = self
                .router
                .route(&decoded.messages, &decoded.signals, &decoded.notices)
                .await;
            match routed {
                Ok(outgoing) => return Ok(outgoing),
                Err(e) => {
                    tracing::warn!(error = %e, batch = decoded.messages.len(), "routing failed; retrying the batch");
                    metrics::counter!(metric::DISPATCH_RETRIES).increment(1);
                    // Stopping mid-outage: leave the batch unacked.
                    if !backoff.wait(self.shutdown).await {
                        return Err(BatchError::Stopped);
                    }
                }
            }
        }
    }
}

/// A batch published, resolving once its deliveries are confirmed.
type Confirming = Pin<Box<dyn Future<Output = Result<Confirmed, BatchError>> + Send>>;

/// A batch whose deliveries are all confirmed, to be acked.
struct Confirmed {
    last: Option<Acker>,
    messages: usize,
    received: Instant,
}

/// Stage 2, until `planned` closes: publishes each batch as it comes, and
/// acks each once its confirms are in, in batch order (the confirms of
/// several batches are awaited together; their acks are not: a `multiple`
/// ack of a later batch would cover an earlier one's still unconfirmed
/// deliveries). At most [`IN_FLIGHT_BATCHES`] wait for confirms at once.
/// Returns (after every batch it took is acked) when `planned` closes, or
/// at the first failure.
pub async fn publish_stage(
    mut planned: mpsc::Receiver<Planned>,
    channel: Channel,
    broker: Broker,
) -> Result<(), BatchError> {
    let mut confirming: FuturesOrdered<Confirming> = FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            Some(done) = confirming.next(), if !confirming.is_empty() => ack(&broker, done?).await?,
            next = planned.recv(), if confirming.len() < IN_FLIGHT_BATCHES => match next {
                Some(batch) => confirming.push_back(publish(&channel, &broker, batch).await?),
                None => break,
            },
        }
    }
    while let Some(done) = confirming.next().await {
        ack(&broker, done?).await?;
    }
    Ok(())
}

/// Acks a confirmed batch with one `multiple` ack (poison envelopes were
/// rejected already).
async fn ack(broker: &Broker, batch: Confirmed) -> Result<(), BrokerError> {
    if let Some(last) = batch.last {
        broker.ack_through(&last).await?;
    }
    metrics::counter!(metric::DISPATCH_ENVELOPES).increment(batch.messages as u64);
    metrics::histogram!(metric::DISPATCH_BATCH_SECONDS)
        .record(batch.received.elapsed().as_secs_f64());
    Ok(())
}

/// Publishes every bundle of `batch` and returns the future that waits for
/// their confirms (within the broker bound: a confirm that never comes is a
/// broken connection).
async fn publish(
    channel: &Channel,
    broker: &Broker,
    batch: Planned,
) -> Result<Confirming, BatchError> {
    let published = Instant::now();
    let mut confirms = Vec::with_capacity(batch.outgoing.len());
    let mut items = 0;
    for out in &batch.outgoing {
        items += out.bundle.len();
        // A bundle is plain data; encoding it cannot fail.
        let payload = serde_json::to_vec(&out.bundle).unwrap_or_default();
        // A queue that is gone (its node died) returns the bundle: it is in
        // the logs either way, and its recipients replay it.
        let properties = topology::transient_json();
        let unconfirmed = broker.publish(channel, &out.queue, &payload, properties);
        confirms.push(unconfirmed.await?.confirmed());
        Stage::Routed.reached_all(out.bundle.deliveries.iter().filter_map(|d| d.read_us));
    }
    metrics::counter!(metric::DELIVERIES_PUBLISHED).increment(items as u64);
    let broker = broker.clone();
    let Planned {
        last,
        messages,
        received,
        ..
    } = batch;
    Ok(Box::pin(async move {
        let confirmations = broker
            .bounded("publisher confirms", try_join_all(confirms))
            .await?;
        for confirmed in confirmations {
            match confirmed {
                broker::Confirmed::Acked => {}
                broker::Confirmed::Returned(queue) => {
                    tracing::debug!(%queue, "node queue gone; its recipients will replay");
                    metrics::counter!(metric::DELIVERIES_RETURNED).increment(1);
                }
                broker::Confirmed::Nacked => return Err(BatchError::Nacked),
            }
        }
        metrics::histogram!(metric::DISPATCH_CONFIRM_SECONDS)
            .record(published.elapsed().as_secs_f64());
        Ok(Confirmed {
            last,
            messages,
            received,
        })
    }))
}
