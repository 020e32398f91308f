//! Consumes this node's private queue into the [`Hub`]. Declares the queue
//! itself (no list of nodes exists anywhere), re-subscribes after a broker
//! failure, and then asks every local connection to catch up from its
//! inbox, since deliveries may have been lost with the queue meanwhile.
//! Every wait for the broker is bounded (`confab_common::broker`), so a
//! handshake or an operation the broker never answers ends in a reconnect,
//! not in a consumer that silently stopped.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use confab_common::NodeId;
use confab_common::broker::Broker;
use confab_common::envelope::Delivery;
use confab_common::topology::{self, Topology};
use futures_util::{FutureExt, StreamExt};
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions};
use lapin::types::{FieldTable, ShortString};
use tokio_util::sync::CancellationToken;

use crate::ws::hub::Hub;

/// Unacked deliveries the broker hands this node at once.
const PREFETCH: u16 = 512;
/// How often an idle consumer checks that its channel is still open: lapin
/// marks the channels of a dead connection, and this finds it even when no
/// delivery or ack would have.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Consumes until `shutdown`, reconnecting with backoff. `ready` is
/// cancelled the first time the consumer is subscribed.
pub async fn consume_loop(
    broker: Broker,
    topology: Topology,
    node: NodeId,
    hub: Arc<Hub>,
    ready: CancellationToken,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_millis(100);
    let mut first = true;
    while !shutdown.is_cancelled() {
        match consume_once(&broker, &topology, node, &hub, &ready, first, &shutdown).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    ?delay,
                    "node queue consumer stopped; reconnecting"
                );
                first = false;
                tokio::select! {
                    () = tokio::time::sleep(delay) => {},
                    () = shutdown.cancelled() => break,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn consume_once(
    broker: &Broker,
    topology: &Topology,
    node: NodeId,
    hub: &Hub,
    ready: &CancellationToken,
    first: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let connection = broker.connection().await?;
    let result = async {
        let channel = broker.open_channel(&connection).await?;
        broker
            .bounded(
                "queue.declare node queue",
                topology.declare_node_queue(&channel, node),
            )
            .await?;
        broker
            .bounded("basic.qos", topology::set_prefetch(&channel, PREFETCH))
            .await?;
        let tag = ShortString::from(format!("node-{}", node.0));
        let mut consumer = broker
            .bounded(
                "basic.consume node queue",
                channel.basic_consume(
                    ShortString::from(topology.node_queue(node)),
                    tag.clone(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        tracing::info!(queue = %topology.node_queue(node), "consuming deliveries");
        ready.cancel();
        if !first {
            // Whatever was routed here while we were away is in the inboxes.
            hub.catch_up_all();
        }
        let mut check = tokio::time::interval(CHECK_INTERVAL);
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = check.tick() => {
                    anyhow::ensure!(channel.status().connected(), "the channel closed");
                    continue;
                }
                next = consumer.next() => match next {
                    Some(delivery) => delivery.context("node queue consumer failed")?,
                    None => anyhow::bail!("the broker cancelled the consumer"),
                },
            };
            // Take what else is already here, then ack it all at once.
            let mut batch = vec![first];
            while batch.len() < usize::from(PREFETCH) {
                match consumer.next().now_or_never() {
                    Some(Some(delivery)) => {
                        batch.push(delivery.context("node queue consumer failed")?)
                    }
                    _ => break,
                }
            }
            for delivery in &batch {
                match serde_json::from_slice::<Delivery>(&delivery.data) {
                    Ok(d) => {
                        hub.deliver(&d);
                    }
                    Err(e) => tracing::error!(error = %e, "undecodable delivery dropped"),
                }
            }
            if let Some(last) = batch.last() {
                broker
                    .bounded(
                        "basic.ack deliveries",
                        last.acker.ack(BasicAckOptions { multiple: true }),
                    )
                    .await?;
            }
        }
        broker
            .bounded(
                "basic.cancel",
                channel.basic_cancel(tag, BasicCancelOptions::default()),
            )
            .await
            .ok();
        broker
            .bounded("channel.close", channel.close(200, "node stopping".into()))
            .await
            .ok();
        Ok(())
    }
    .await;
    if result.is_err() {
        // The connection may be broken; let the pool open a new one.
        let _ = deadpool_lapin::Object::take(connection);
    }
    result
}
