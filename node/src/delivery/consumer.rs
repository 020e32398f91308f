//! Consumes this node's private queue into the [`Hub`]. Declares the queue
//! itself (no list of nodes exists anywhere), re-subscribes after a broker
//! failure, and then asks every local connection to catch up from the
//! logs, since deliveries may have been lost with the queue meanwhile.
//! Every wait for the broker is bounded (`confab_common::broker`), so a
//! handshake or an operation the broker never answers ends in a reconnect,
//! not in a consumer that silently stopped.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use confab_common::NodeId;
use confab_common::broker::Broker;
use confab_common::broker::subscription::Subscription;
use confab_common::envelope::Bundle;
use confab_common::metric::Stage;
use confab_common::retry::Backoff;
use confab_common::topology::{self, Topology};
use lapin::Channel;
use tokio_util::sync::CancellationToken;

use crate::delivery::hub::Hub;

/// Unacked deliveries the broker hands this node at once.
const PREFETCH: u16 = 512;

/// The node's queue consumer and where it delivers.
#[derive(Debug)]
pub struct NodeQueue {
    pub broker: Broker,
    pub topology: Topology,
    pub node: NodeId,
    pub hub: Arc<Hub>,
}

impl NodeQueue {
    /// Consumes until `shutdown`, subscribing again with backoff after a
    /// failure. `ready` is cancelled the first time the consumer is
    /// subscribed.
    pub async fn consume_loop(self, ready: CancellationToken, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut first = true;
        while !shutdown.is_cancelled() {
            let subscribed = || {
                ready.cancel();
                backoff.reset();
                if !std::mem::take(&mut first) {
                    // Whatever was routed here while we were away is in
                    // the logs.
                    self.hub.catch_up_all();
                }
            };
            match self.consume_once(subscribed, &shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "node queue consumer stopped; reconnecting"
                    );
                    if !backoff.wait(&shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// One subscription, on one pooled connection, until `shutdown` or a
    /// broker failure (then the connection is kept out of the pool).
    async fn consume_once(
        &self,
        subscribed: impl FnOnce(),
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let connection = self.broker.connection().await?;
        let result = async {
            let channel = self.broker.open_channel(&connection).await?;
            let mut subscription = self.subscribe(&channel).await?;
            subscribed();
            let delivered = self
                .deliver_until_stopped(&mut subscription, shutdown)
                .await;
            subscription.cancel(&self.broker).await;
            delivered
        }
        .await;
        if result.is_err() {
            // The connection (or its member) may be broken: the next
            // subscription is made on a new one, of another member first,
            // which the queue is declared on again.
            self.broker.discard(connection);
        }
        result
    }

    /// Declares the node's queue (it exists only while the node does) and
    /// subscribes to it.
    async fn subscribe(&self, channel: &Channel) -> anyhow::Result<Subscription> {
        let queue = self.topology.node_queue(self.node);
        let broker = &self.broker;
        broker
            .bounded(
                "queue.declare node queue",
                self.topology.declare_node_queue(channel, self.node),
            )
            .await?;
        broker
            .bounded("basic.qos", topology::set_prefetch(channel, PREFETCH))
            .await?;
        let tag = format!("node-{}", self.node.0);
        let subscription = Subscription::open(broker, channel, &queue, &tag).await?;
        tracing::info!(%queue, "consuming deliveries");
        Ok(subscription)
    }

    /// Hands every delivery to the hub, acking what arrived together at once.
    async fn deliver_until_stopped(
        &self,
        subscription: &mut Subscription,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = subscription.next() => next.context("node queue consumer")?,
            };
            let taken = subscription.take_ready(first, usize::from(PREFETCH))?;
            for delivery in &taken {
                self.hand_over(delivery);
            }
            if let Some(last) = taken.last() {
                self.broker.ack_through(&last.acker).await?;
            }
        }
    }

    /// Hands a bundle's deliveries, then its notices, to the hub.
    fn hand_over(&self, delivery: &lapin::message::Delivery) {
        match serde_json::from_slice::<Bundle>(&delivery.data) {
            Ok(bundle) => {
                Stage::Arrived.reached_all(bundle.deliveries.iter().filter_map(|d| d.read_us));
                for d in &bundle.deliveries {
                    self.hub.deliver(d);
                }
                for n in &bundle.notices {
                    self.hub.notify(n);
                }
            }
            Err(e) => {
                // (A dispatcher of another version, say.) Whatever it held
                // is in the logs: every connection reads them again.
                tracing::error!(error = %e, "undecodable delivery bundle; catching every connection up");
                self.hub.catch_up_all();
            }
        }
    }
}
