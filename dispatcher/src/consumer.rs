//! The dispatcher's AMQP side: every `input` shard is consumed on a
//! connection of its own (single active consumer per shard, manual acks,
//! bounded prefetch), with a publish channel with confirms for that shard's
//! deliveries. Each shard's loop takes what the shard has ready, up to a
//! batch, routes it ([`Dispatch::route_batch`]) and hands it to its publish
//! stage ([`publish_stage`]), which publishes, waits for confirms and acks
//! while the loop routes the next batch. On any broker failure the shard
//! connects again with backoff (unacked envelopes go back to the queue with
//! the connection); the other shards go on.

use std::time::Duration;

use anyhow::Context;
use confab_common::broker::Broker;
use confab_common::broker::subscription::Subscription;
use confab_common::retry::Backoff;
use confab_common::{metric, topology};
use lapin::Channel;
use lapin::options::ConfirmSelectOptions;
use lapin::types::{FieldTable, ShortString};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::batch::{self, BatchError, Dispatch, IN_FLIGHT_BATCHES, Planned};
use crate::homes::{ANNOUNCE_EVERY, Homes};
use crate::route::Router;

/// How long a dispatcher gathers its first window after subscribing (and any
/// window that starts with a redelivery) before routing it.
const SETTLE: Duration = Duration::from_millis(250);

/// The `input` consumer: one loop per shard.
#[derive(Debug)]
pub struct InputConsumer {
    pub router: Router,
    pub broker: Broker,
    /// Most unacked envelopes the broker hands over at once, per shard.
    pub prefetch: u16,
    /// Most envelopes routed in one batch.
    pub batch: usize,
    /// The shards this dispatcher subscribes to at once; it subscribes to
    /// the others (as a standby) after `standby_after`. `None`: all at once.
    pub home: Option<Vec<u16>>,
    pub standby_after: Duration,
    /// Announces the home shards; says when another's home shard is to be
    /// handed over.
    pub homes: Homes,
}

/// Why consuming a shard ended without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardExit {
    /// Shutdown.
    Stopped,
    /// The shard's home dispatcher is up: subscribe again, behind it.
    HandedOver,
}

/// The two channels of one shard's connection.
struct Channels {
    consume: Channel,
    publish: Channel,
}

impl InputConsumer {
    /// Consumes every shard until `shutdown`.
    pub async fn consume_loop(&self, shutdown: &CancellationToken) {
        let shards = (0..self.router.topology.shards()).map(|s| self.shard_loop(s, shutdown));
        futures_util::future::join_all(shards).await;
    }

    /// Whether `shard` is one this dispatcher takes at once.
    fn is_home(&self, shard: u16) -> bool {
        self.home.as_ref().is_none_or(|home| home.contains(&shard))
    }

    /// Consumes `shard` until `shutdown`, connecting again with backoff
    /// after a broker failure.
    async fn shard_loop(&self, shard: u16, shutdown: &CancellationToken) {
        if !self.is_home(shard) {
            // Another dispatcher's home shard: let it subscribe first.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.standby_after) => {}
            }
        }
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        while !shutdown.is_cancelled() {
            let connection = match self.broker.connection().await {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::warn!(shard, error = %e, "cannot reach RabbitMQ; retrying");
                    if !backoff.wait(shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            backoff.reset();
            // The connection is this shard's alone, and closed after it.
            let (connection, member) = connection.take();
            let consumed = self.consume_once(shard, &connection, shutdown).await;
            let close = connection.close(200, "dispatcher shard stopping".into());
            self.broker.bounded("connection.close", close).await.ok();
            match consumed {
                Ok(ShardExit::Stopped) => {
                    if self.home.is_some()
                        && self.is_home(shard)
                        && let Err(e) = self.homes.withdraw(shard).await
                    {
                        tracing::debug!(shard, error = %e, "cannot withdraw the home shard; it lapses");
                    }
                    break;
                }
                Ok(ShardExit::HandedOver) => {
                    tracing::info!(shard, "handed the shard over to its home dispatcher");
                }
                Err(e) => {
                    tracing::warn!(
                        shard,
                        error = format!("{e:#}"),
                        "consuming stopped; reconnecting"
                    );
                    self.broker.distrust(member);
                    if !backoff.wait(shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// Consumes `shard` on `connection` until `shutdown` or a failure.
    async fn consume_once(
        &self,
        shard: u16,
        connection: &lapin::Connection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<ShardExit> {
        let channels = self.open(connection).await?;
        let queue = self.router.topology.input(shard);
        let tag = format!("dispatcher-{}-{shard}", self.homes.me());
        // Manual acks: an envelope is acked only after it is stored and its
        // deliveries are confirmed.
        let mut subscription =
            Subscription::open(&self.broker, &channels.consume, &queue, &tag).await?;
        tracing::info!(%queue, "consuming (active once the broker makes us the single active consumer)");
        // The backlog of the shard, for the queue-lag gauge (aborted when
        // this function returns, however it returns).
        let _depth = AbortOnDropHandle::new(tokio::spawn(report_depth(
            channels.consume.clone(),
            queue,
            shard,
        )));
        let (to_publish, planned) = mpsc::channel::<Planned>(IN_FLIGHT_BATCHES);
        let mut publishing = AbortOnDropHandle::new(tokio::spawn(batch::publish_stage(
            planned,
            channels.publish.clone(),
            self.broker.clone(),
        )));
        let dispatch = Dispatch {
            router: &self.router,
            broker: &self.broker,
            shutdown,
        };
        let mut settled = false;
        let mut homes = tokio::time::interval(ANNOUNCE_EVERY);
        let ended = loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => break ShardExit::Stopped,
                _ = homes.tick() => {
                    // Active (it received) on another's home shard that
                    // is up: hand it over.
                    if self.home_check(shard, settled).await {
                        break ShardExit::HandedOver;
                    }
                    continue;
                }
                stopped = &mut publishing => return Err(publish_failure(stopped)),
                next = subscription.next() => next.context("input consumer")?,
            };
            // A dispatcher that just became active (or sees redeliveries)
            // may be handed a failed dispatcher's unacked window out of
            // order, mixed with newer envelopes: gather the whole window
            // first, then route it in msg_id order.
            let batch = if !settled || first.redelivered {
                let max = usize::from(self.prefetch);
                subscription.take_window(first, max, SETTLE).await?
            } else {
                subscription.take_ready(first, self.batch)?
            };
            settled = true;
            let planned = dispatch.route_batch(batch).await?;
            if to_publish.send(planned).await.is_err() {
                return Err(publish_failure((&mut publishing).await));
            }
        };
        // Let the publish stage finish what it took (confirms and acks),
        // then stop receiving; what was prefetched but not routed goes back
        // to the queue when the channel closes.
        drop(to_publish);
        if let Err(e) = publishing.await.unwrap_or(Ok(())) {
            tracing::warn!(shard, error = %e, "the last batches were not acked; the next dispatcher routes them again");
        }
        subscription.cancel(&self.broker).await;
        let close = channels.publish.close(200, "dispatcher stopping".into());
        self.broker.bounded("channel.close", close).await.ok();
        Ok(ended)
    }

    /// On a home shard, announces it; on another's, says whether to hand it
    /// over: only if this dispatcher is active on it (`received`) and its
    /// home dispatcher is up. Redis down: nothing is announced or handed.
    async fn home_check(&self, shard: u16, received: bool) -> bool {
        if self.is_home(shard) {
            if self.home.is_some()
                && let Err(e) = self.homes.announce(shard).await
            {
                tracing::debug!(shard, error = %e, "cannot announce the home shard");
            }
            return false;
        }
        received && self.homes.claimed_by_another(shard).await.unwrap_or(false)
    }

    /// The consume and publish channels, the input shards declared.
    async fn open(&self, connection: &lapin::Connection) -> anyhow::Result<Channels> {
        let consume = self.broker.open_channel(connection).await?;
        let publish = self.broker.open_channel(connection).await?;
        let confirms = publish.confirm_select(ConfirmSelectOptions::default());
        self.broker.bounded("confirm.select", confirms).await?;
        let declare = self.router.topology.declare_input(connection);
        self.broker.bounded("queue.declare input", declare).await?;
        let qos = topology::set_prefetch(&consume, self.prefetch);
        self.broker.bounded("basic.qos", qos).await?;
        Ok(Channels { consume, publish })
    }
}

/// What a publish stage that stopped early failed with.
fn publish_failure(
    stopped: Result<Result<(), BatchError>, tokio::task::JoinError>,
) -> anyhow::Error {
    match stopped {
        Ok(Err(e)) => anyhow::Error::new(e).context("publishing deliveries"),
        Ok(Ok(())) => anyhow::anyhow!("the publish stage stopped"),
        Err(e) => anyhow::Error::new(e).context("the publish stage failed"),
    }
}

/// Sets the shard's depth gauge every few seconds from a passive declare.
async fn report_depth(channel: Channel, queue: String, shard: u16) {
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
            Ok(q) => metrics::gauge!(metric::INPUT_QUEUE_DEPTH, "shard" => shard.to_string())
                .set(f64::from(q.message_count())),
            Err(_) => return,
        }
    }
}
