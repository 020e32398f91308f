//! The dispatcher's loop: take what `input` has ready (up to a batch), route
//! it, publish the deliveries with confirms, then ack the batch. Nothing is
//! acked before it is in the inbox and every delivery is confirmed, so a
//! dispatcher that dies mid-batch loses nothing: the broker hands the batch to
//! the next active dispatcher, and routing it again changes nothing (inbox
//! writes are idempotent; repeated deliveries carry the same `seq` and are
//! dropped by the node).

use std::time::Duration;

use anyhow::Context;
use confab_common::broker::{Broker, BrokerError};
use confab_common::envelope::Envelope;
use confab_common::topology;
use futures_util::future::try_join_all;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions,
    BasicRejectOptions, ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Confirmation, Consumer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::route::{Outgoing, Router};

/// How long a dispatcher gathers its first window after subscribing (and any
/// window that starts with a redelivery) before routing it.
const SETTLE: Duration = Duration::from_millis(250);

/// How often an idle consumer checks that its channel is still open (lapin
/// marks the channels of a dead connection; this finds it even when no
/// envelope arrives to fail on).
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long to wait before retrying a batch whose routing failed (Postgres
/// or Redis down); doubled up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Consumes `input` on `connection` until `shutdown`, or until the broker
/// connection fails (then the caller reconnects).
pub async fn consume_loop(
    router: &Router,
    broker: &Broker,
    connection: &lapin::Connection,
    prefetch: u16,
    batch_size: usize,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let consume_channel = broker.open_channel(connection).await?;
    let publish_channel = broker.open_channel(connection).await?;
    broker
        .bounded(
            "confirm.select",
            publish_channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
    broker
        .bounded(
            "queue.declare input",
            router.topology.declare_input(&consume_channel),
        )
        .await?;
    broker
        .bounded(
            "basic.qos",
            topology::set_prefetch(&consume_channel, prefetch),
        )
        .await?;
    let tag = ShortString::from(format!("dispatcher-{}", std::process::id()));
    let mut consumer = broker
        .bounded(
            "basic.consume input",
            consume_channel.basic_consume(
                ShortString::from(router.topology.input()),
                tag.clone(),
                // Manual acks: an envelope is acked only after it is stored
                // and its deliveries are confirmed.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
    tracing::info!(queue = %router.topology.input(), "consuming (active once the broker makes us the single active consumer)");

    // The backlog of `input`, for the queue-lag gauge.
    // (Aborted when this function returns, however it returns.)
    let _depth = AbortOnDropHandle::new(tokio::spawn(report_depth(
        consume_channel.clone(),
        router.topology.input(),
    )));

    let mut settled = false;
    let mut check = tokio::time::interval(CHECK_INTERVAL);
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = check.tick() => {
                anyhow::ensure!(consume_channel.status().connected(), "the input channel closed");
                continue;
            }
            next = consumer.next() => match next {
                Some(delivery) => delivery.context("input consumer failed")?,
                None => anyhow::bail!("the broker cancelled the input consumer"),
            },
        };
        // A dispatcher that just became active (or sees redeliveries) may be
        // handed a failed dispatcher's unacked window out of order, mixed
        // with newer envelopes: gather the whole window first, then route it
        // in msg_id order.
        let batch = if !settled || first.redelivered {
            take_window(&mut consumer, first, usize::from(prefetch), SETTLE).await?
        } else {
            take_ready(&mut consumer, first, batch_size)?
        };
        settled = true;
        process(router, broker, &publish_channel, batch, shutdown).await?;
    }

    // Stop receiving; what was prefetched but not processed goes back to the
    // queue when the channel closes.
    consume_channel
        .basic_cancel(tag, BasicCancelOptions::default())
        .await
        .ok();
    consume_channel
        .close(200, "dispatcher stopping".into())
        .await
        .ok();
    publish_channel
        .close(200, "dispatcher stopping".into())
        .await
        .ok();
    Ok(())
}

/// Sets `confab_input_queue_depth` every few seconds from a passive declare.
async fn report_depth(channel: Channel, queue: String) {
    let mut interval = tokio::time::interval(Duration::from_secs(5));
    loop {
        interval.tick().await;
        let declared = channel
            .queue_declare(
                ShortString::from(queue.as_str()),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(q) => metrics::gauge!("confab_input_queue_depth").set(f64::from(q.message_count())),
            Err(_) => return,
        }
    }
}

/// `first` and whatever else arrives within `wait`, up to `max`.
async fn take_window(
    consumer: &mut Consumer,
    first: AmqpDelivery,
    max: usize,
    wait: Duration,
) -> anyhow::Result<Vec<AmqpDelivery>> {
    let mut batch = vec![first];
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    while batch.len() < max {
        tokio::select! {
            () = &mut deadline => break,
            next = consumer.next() => match next {
                Some(delivery) => batch.push(delivery.context("input consumer failed")?),
                None => break,
            },
        }
    }
    Ok(batch)
}

/// `first` and whatever else the consumer already holds, up to `max`.
fn take_ready(
    consumer: &mut Consumer,
    first: AmqpDelivery,
    max: usize,
) -> anyhow::Result<Vec<AmqpDelivery>> {
    let mut batch = vec![first];
    while batch.len() < max {
        match consumer.next().now_or_never() {
            Some(Some(delivery)) => batch.push(delivery.context("input consumer failed")?),
            _ => break,
        }
    }
    Ok(batch)
}

/// Routes one batch, retrying while its dependencies are down, then acks it.
async fn process(
    router: &Router,
    broker: &Broker,
    publish_channel: &Channel,
    batch: Vec<AmqpDelivery>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(last) = batch.last() else {
        return Ok(());
    };
    let last_acker = last.acker.clone();
    let started = std::time::Instant::now();
    let redelivered = batch.iter().filter(|d| d.redelivered).count() as u64;
    metrics::counter!("confab_dispatch_redeliveries_total").increment(redelivered);
    let mut envelopes = Vec::with_capacity(batch.len());
    for delivery in &batch {
        match serde_json::from_slice::<Envelope>(&delivery.data) {
            Ok(envelope) => envelopes.push(envelope),
            Err(e) => {
                // Poison: it will never decode. Off to `input.dead`.
                tracing::error!(error = %e, "undecodable envelope dead-lettered");
                metrics::counter!("confab_dispatch_poison_total").increment(1);
                broker
                    .bounded(
                        "basic.reject poison",
                        delivery.acker.reject(BasicRejectOptions { requeue: false }),
                    )
                    .await
                    .map_err(BrokerFailure)?;
            }
        }
    }

    // Messages of one sender carry increasing ids; routing a batch in id
    // order undoes any reordering the broker did on redelivery.
    envelopes.sort_by_key(|e| e.message.msg_id);

    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let attempt = async {
            let outgoing = router.route(&envelopes).await?;
            publish(broker, publish_channel, outgoing).await
        };
        match attempt.await {
            Ok(()) => break,
            Err(e) if is_broker_failure(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, ?delay, batch = envelopes.len(), "routing failed; retrying the batch");
                metrics::counter!("confab_dispatch_retries_total").increment(1);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {},
                    // Stopping mid-outage: leave the batch unacked for the
                    // next dispatcher.
                    () = shutdown.cancelled() => anyhow::bail!("stopped while the batch could not be routed"),
                }
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
    // One ack for the whole batch (poison ones were rejected already).
    broker
        .bounded(
            "basic.ack batch",
            last_acker.ack(BasicAckOptions { multiple: true }),
        )
        .await
        .map_err(BrokerFailure)?;
    metrics::counter!("confab_dispatch_envelopes_total").increment(envelopes.len() as u64);
    metrics::histogram!("confab_dispatch_batch_seconds").record(started.elapsed().as_secs_f64());
    Ok(())
}

/// Publishes every delivery and waits for all confirms, each wait within the
/// broker bound: a confirm that never comes is a broken connection.
async fn publish(
    broker: &Broker,
    channel: &Channel,
    outgoing: Vec<Outgoing>,
) -> anyhow::Result<()> {
    let mut confirms = Vec::with_capacity(outgoing.len());
    for out in outgoing {
        let payload = serde_json::to_vec(&out.delivery).context("encoding a delivery")?;
        let confirm = broker
            .bounded(
                "basic.publish delivery",
                channel.basic_publish(
                    ShortString::from(""),
                    ShortString::from(out.queue),
                    // Mandatory: a queue that is gone (its node died) returns
                    // the delivery instead of dropping it silently; it is in
                    // the inbox either way, but the return tells us.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &payload,
                    topology::transient_json(),
                ),
            )
            .await
            .map_err(BrokerFailure)?;
        confirms.push(confirm);
    }
    metrics::counter!("confab_deliveries_published_total").increment(confirms.len() as u64);
    let confirmations = broker
        .bounded("publisher confirms", try_join_all(confirms))
        .await
        .map_err(BrokerFailure)?;
    for confirmation in confirmations {
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => {}
            Confirmation::Ack(Some(returned)) => {
                tracing::debug!(queue = %returned.delivery.routing_key, "node queue gone; the recipient will replay");
                metrics::counter!("confab_deliveries_returned_total").increment(1);
            }
            Confirmation::Nack(_) => anyhow::bail!("the broker refused a delivery"),
        }
    }
    Ok(())
}

/// A failure of the broker connection itself: the loop must reconnect.
#[derive(Debug, thiserror::Error)]
#[error("broker: {0}")]
struct BrokerFailure(#[from] BrokerError);

fn is_broker_failure(e: &anyhow::Error) -> bool {
    e.downcast_ref::<BrokerFailure>().is_some()
}
