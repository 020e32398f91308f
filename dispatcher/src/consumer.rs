//! The dispatcher's AMQP side: one connection with a consume channel on
//! `input` (single active consumer, manual acks, bounded prefetch) and a
//! publish channel with confirms for the deliveries. Takes what `input` has
//! ready, up to a batch, and hands it to [`Dispatch::process`]; on any broker
//! failure, connects again with backoff (unacked envelopes go back to the
//! queue with the connection).

use std::time::Duration;

use anyhow::Context;
use confab_common::broker::Broker;
use confab_common::retry::Backoff;
use confab_common::{metric, topology};
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::batch::Dispatch;
use crate::route::Router;

/// How long a dispatcher gathers its first window after subscribing (and any
/// window that starts with a redelivery) before routing it.
const SETTLE: Duration = Duration::from_millis(250);

/// How often an idle consumer checks that its channel is still open (lapin
/// marks the channels of a dead connection; this finds it even when no
/// envelope arrives to fail on).
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The `input` consumer.
#[derive(Debug)]
pub struct InputConsumer {
    pub router: Router,
    pub broker: Broker,
    /// Most unacked envelopes the broker hands over at once.
    pub prefetch: u16,
    /// Most envelopes routed in one batch.
    pub batch: usize,
}

/// The two channels of one connection.
struct Channels {
    consume: Channel,
    publish: Channel,
}

impl InputConsumer {
    /// Consumes until `shutdown`, connecting again with backoff after a
    /// broker failure.
    pub async fn consume_loop(&self, shutdown: &CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        while !shutdown.is_cancelled() {
            let connection = match self.broker.connection().await {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach RabbitMQ; retrying");
                    if !backoff.wait(shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            backoff.reset();
            match self.consume_once(&connection, shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "consuming stopped; reconnecting");
                    // The connection may be dead; let the pool replace it.
                    let _ = deadpool_lapin::Object::take(connection);
                    if !backoff.wait(shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// Consumes `input` on `connection` until `shutdown` or a failure.
    async fn consume_once(
        &self,
        connection: &lapin::Connection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let channels = self.open(connection).await?;
        let tag = ShortString::from(format!("dispatcher-{}", std::process::id()));
        let mut consumer = self.subscribe(&channels.consume, tag.clone()).await?;
        // The backlog of `input`, for the queue-lag gauge (aborted when this
        // function returns, however it returns).
        let _depth = AbortOnDropHandle::new(tokio::spawn(report_depth(
            channels.consume.clone(),
            self.router.topology.input(),
        )));
        let dispatch = Dispatch {
            router: &self.router,
            broker: &self.broker,
            publish_channel: &channels.publish,
            shutdown,
        };
        let mut settled = false;
        let mut check = tokio::time::interval(CHECK_INTERVAL);
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = check.tick() => {
                    anyhow::ensure!(channels.consume.status().connected(), "the input channel closed");
                    continue;
                }
                next = consumer.next() => match next {
                    Some(delivery) => delivery.context("input consumer failed")?,
                    None => anyhow::bail!("the broker cancelled the input consumer"),
                },
            };
            // A dispatcher that just became active (or sees redeliveries)
            // may be handed a failed dispatcher's unacked window out of
            // order, mixed with newer envelopes: gather the whole window
            // first, then route it in msg_id order.
            let batch = if !settled || first.redelivered {
                take_window(&mut consumer, first, usize::from(self.prefetch), SETTLE).await?
            } else {
                take_ready(&mut consumer, first, self.batch)?
            };
            settled = true;
            dispatch.process(batch).await?;
        }
        // Stop receiving; what was prefetched but not processed goes back to
        // the queue when the channel closes.
        let cancel = channels
            .consume
            .basic_cancel(tag, BasicCancelOptions::default());
        self.broker.bounded("basic.cancel", cancel).await.ok();
        for channel in [&channels.consume, &channels.publish] {
            let close = channel.close(200, "dispatcher stopping".into());
            self.broker.bounded("channel.close", close).await.ok();
        }
        Ok(())
    }

    /// The consume and publish channels, `input` declared.
    async fn open(&self, connection: &lapin::Connection) -> anyhow::Result<Channels> {
        let consume = self.broker.open_channel(connection).await?;
        let publish = self.broker.open_channel(connection).await?;
        let confirms = publish.confirm_select(ConfirmSelectOptions::default());
        self.broker.bounded("confirm.select", confirms).await?;
        let declare = self.router.topology.declare_input(&consume);
        self.broker.bounded("queue.declare input", declare).await?;
        let qos = topology::set_prefetch(&consume, self.prefetch);
        self.broker.bounded("basic.qos", qos).await?;
        Ok(Channels { consume, publish })
    }

    async fn subscribe(&self, channel: &Channel, tag: ShortString) -> anyhow::Result<Consumer> {
        let input = self.router.topology.input();
        let consume = channel.basic_consume(
            ShortString::from(input.as_str()),
            tag,
            // Manual acks: an envelope is acked only after it is stored and
            // its deliveries are confirmed.
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let consumer = self.broker.bounded("basic.consume input", consume).await?;
        tracing::info!(queue = %input, "consuming (active once the broker makes us the single active consumer)");
        Ok(consumer)
    }
}

/// Sets the input depth gauge every few seconds from a passive declare.
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
            Ok(q) => metrics::gauge!(metric::INPUT_QUEUE_DEPTH).set(f64::from(q.message_count())),
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
