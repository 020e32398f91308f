//! One batch of `input` as a unit of work: decode (poison to `input.dead`),
//! put in `msg_id` order, route (store, then plan), publish the deliveries
//! and wait for every confirm, then ack the batch with one `multiple` ack.
//! Nothing is acked before it is in its log and every delivery is
//! confirmed, so a dispatcher that dies mid-batch loses nothing: the broker
//! hands the batch to the next active dispatcher, and routing it again
//! changes nothing (a logged message keeps its seq; repeated deliveries carry
//! the same `seq` and are dropped by the node).

use std::time::{Duration, Instant};

use confab_common::broker::{Broker, BrokerError};
use confab_common::envelope::{Envelope, Input, Notify, Signal};
use confab_common::retry::Backoff;
use confab_common::{metric, topology};
use futures_util::future::try_join_all;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{BasicAckOptions, BasicPublishOptions, BasicRejectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation};
use tokio_util::sync::CancellationToken;

use crate::plan::Outgoing;
use crate::route::{RouteError, Router};

/// Why a batch was left unacked (the broker hands it out again).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The broker connection failed: the consumer reconnects.
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// Shutdown came while the batch could not be routed; the next
    /// dispatcher gets it.
    #[error("stopped while the batch could not be routed")]
    Stopped,
}

/// Why one attempt at routing a batch failed. All but a broker failure are
/// worth trying the same batch again on the same connection.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("cannot encode a delivery: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the broker refused a delivery")]
    Nacked,
}

/// A batch, decoded.
#[derive(Debug)]
struct Decoded {
    messages: Vec<Envelope>,
    signals: Vec<Signal>,
    notifies: Vec<Notify>,
}

/// What processing a batch needs.
#[derive(Debug, Clone, Copy)]
pub struct Dispatch<'a> {
    pub router: &'a Router,
    pub broker: &'a Broker,
    /// The channel (confirms on) that deliveries are published on.
    pub publish_channel: &'a Channel,
    pub shutdown: &'a CancellationToken,
}

impl Dispatch<'_> {
    /// Routes `batch`, retrying while Postgres or Redis is down, then acks it.
    pub async fn process(&self, batch: Vec<AmqpDelivery>) -> Result<(), BatchError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let last_acker = last.acker.clone();
        let started = Instant::now();
        let redelivered = batch.iter().filter(|d| d.redelivered).count() as u64;
        metrics::counter!(metric::DISPATCH_REDELIVERIES).increment(redelivered);
        let mut decoded = self.decode(&batch).await?;
        // Messages of one sender carry increasing ids; routing a batch in id
        // order undoes any reordering the broker did on redelivery.
        decoded.messages.sort_by_key(|e| e.message.msg_id);
        self.route_until_done(&decoded).await?;
        // One ack for the whole batch (poison ones were rejected already).
        let ack = last_acker.ack(BasicAckOptions { multiple: true });
        self.broker.bounded("basic.ack batch", ack).await?;
        metrics::counter!(metric::DISPATCH_ENVELOPES).increment(decoded.messages.len() as u64);
        metrics::histogram!(metric::DISPATCH_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// The messages and signals of `batch`; an undecodable item is poison
    /// (it never will decode) and goes to `input.dead`.
    async fn decode(&self, batch: &[AmqpDelivery]) -> Result<Decoded, BrokerError> {
        let mut decoded = Decoded {
            messages: Vec::with_capacity(batch.len()),
            signals: Vec::new(),
            notifies: Vec::new(),
        };
        for delivery in batch {
            match serde_json::from_slice::<Input>(&delivery.data) {
                Ok(Input::Message(envelope)) => decoded.messages.push(envelope),
                Ok(Input::Signal(signal)) => decoded.signals.push(signal),
                Ok(Input::Notify(notify)) => decoded.notifies.push(notify),
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

    async fn route_until_done(&self, decoded: &Decoded) -> Result<(), BatchError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match self.attempt(decoded).await {
                Ok(()) => return Ok(()),
                Err(AttemptError::Broker(e)) => return Err(e.into()),
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

    async fn attempt(&self, decoded: &Decoded) -> Result<(), AttemptError> {
        let outgoing = self
            .router
            .route(&decoded.messages, &decoded.signals, &decoded.notifies)
            .await?;
        self.publish(outgoing).await
    }

    /// Publishes every delivery and waits for all confirms, each wait within
    /// the broker bound: a confirm that never comes is a broken connection.
    async fn publish(&self, outgoing: Vec<Outgoing>) -> Result<(), AttemptError> {
        let mut confirms = Vec::with_capacity(outgoing.len());
        for out in outgoing {
            let payload = serde_json::to_vec(&out.item)?;
            let publish = self.publish_channel.basic_publish(
                ShortString::from(""),
                ShortString::from(out.queue),
                // Mandatory: a queue that is gone (its node died) returns the
                // delivery instead of dropping it silently; it is in the log
                // either way, but the return tells us.
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &payload,
                topology::transient_json(),
            );
            confirms.push(
                self.broker
                    .bounded("basic.publish delivery", publish)
                    .await?,
            );
        }
        metrics::counter!(metric::DELIVERIES_PUBLISHED).increment(confirms.len() as u64);
        let confirmations = self
            .broker
            .bounded("publisher confirms", try_join_all(confirms))
            .await?;
        for confirmation in confirmations {
            match confirmation {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Ack(Some(returned)) => {
                    tracing::debug!(queue = %returned.delivery.routing_key, "node queue gone; the recipient will replay");
                    metrics::counter!(metric::DELIVERIES_RETURNED).increment(1);
                }
                Confirmation::Nack(_) => return Err(AttemptError::Nacked),
            }
        }
        Ok(())
    }
}
