//! The one way Confab consumes a queue: subscribe with manual acks, wait
//! for the next delivery while checking that the channel is still open,
//! take what else is already here, ack many at once, cancel. The node's
//! queue consumer and the dispatcher's shard consumers both run on it.

use std::time::Duration;

use anyhow::Context;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Acker, Channel, Consumer};
use tokio::time::Interval;

use super::{Broker, BrokerError, CHECK_INTERVAL};

/// A consumer of one queue on one channel.
#[derive(Debug)]
pub struct Subscription {
    channel: Channel,
    consumer: Consumer,
    tag: ShortString,
    /// When an idle subscription next looks at its channel: lapin marks
    /// the channels of a dead connection, and the look finds it even when
    /// no delivery or ack would have failed on it.
    check: Interval,
}

impl Subscription {
    /// Subscribes to `queue` on `channel` as `tag`, with manual acks:
    /// nothing is acked until its work is done.
    pub async fn open(
        broker: &Broker,
        channel: &Channel,
        queue: &str,
        tag: &str,
    ) -> Result<Self, BrokerError> {
        let consume = channel.basic_consume(
            ShortString::from(queue),
            ShortString::from(tag),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let consumer = broker.bounded("basic.consume", consume).await?;
        Ok(Self {
            channel: channel.clone(),
            consumer,
            tag: ShortString::from(tag),
            check: tokio::time::interval(CHECK_INTERVAL),
        })
    }

    /// The next delivery. Fails when the channel closed or the broker
    /// cancelled the consumer. Cancel-safe: it can sit in a `select!`.
    pub async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            tokio::select! {
                _ = self.check.tick() => {
                    anyhow::ensure!(self.channel.status().connected(), "the channel closed");
                }
                next = self.consumer.next() => return match next {
                    Some(delivery) => delivery.context("the consumer failed"),
                    None => Err(anyhow::anyhow!("the broker cancelled the consumer")),
                },
            }
        }
    }

    /// `first` and whatever else is already here, up to `max` in all.
    pub fn take_ready(&mut self, first: Delivery, max: usize) -> anyhow::Result<Vec<Delivery>> {
        let mut taken = vec![first];
        while taken.len() < max {
            match self.consumer.next().now_or_never() {
                Some(Some(delivery)) => taken.push(delivery.context("the consumer failed")?),
                _ => break,
            }
        }
        Ok(taken)
    }

    /// `first` and whatever else arrives within `wait`, up to `max` in all.
    pub async fn take_window(
        &mut self,
        first: Delivery,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>> {
        let mut taken = vec![first];
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        while taken.len() < max {
            tokio::select! {
                () = &mut deadline => break,
                next = self.consumer.next() => match next {
                    Some(delivery) => taken.push(delivery.context("the consumer failed")?),
                    None => break,
                },
            }
        }
        Ok(taken)
    }

    /// Stops receiving and closes the channel; what was received and not
    /// acked goes back to the queue with it.
    pub async fn cancel(self, broker: &Broker) {
        let cancel = (self.channel).basic_cancel(self.tag, BasicCancelOptions::default());
        broker.bounded("basic.cancel", cancel).await.ok();
        let close = self.channel.close(200, "unsubscribed".into());
        broker.bounded("channel.close", close).await.ok();
    }
}

impl Broker {
    /// Acks every delivery of a channel up to and including `last`'s, in
    /// one `multiple` ack, within the bound.
    pub async fn ack_through(&self, last: &Acker) -> Result<(), BrokerError> {
        let ack = last.ack(BasicAckOptions { multiple: true });
        self.bounded("basic.ack", ack).await.map(drop)
    }
}
