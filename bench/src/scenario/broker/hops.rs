//! The three stages of the broker scenario: publishers, the relay (the
//! dispatcher's shape) and the sink (a node's shape).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::try_join_all;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::time::MissedTickBehavior;

use super::Shared;
use super::writes::Writes;
use crate::output::Correctness;
use crate::scenario::Body;
use crate::stats::Latency;

/// Persistent (delivery mode 2), as Confab's `input`.
fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

/// One publisher: a message whenever its window has room (or at its rate),
/// confirms awaited concurrently. Returns confirm latencies, the confirmed
/// `(publisher, seq)` keys and errors.
pub(super) async fn publish(
    channel: Channel,
    queue: String,
    index: usize,
    rate: Option<f64>,
    body_bytes: usize,
    shared: Arc<Shared>,
) -> anyhow::Result<(Latency, Vec<(usize, u64)>, Correctness)> {
    let clock = shared.clock;
    let window = shared.windows[index].clone();
    let mut schedule = rate.map(|r| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(0.001)));
        interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
        interval
    });
    let mut confirms = FuturesUnordered::new();
    let mut latency = Latency::new();
    let mut keys = Vec::new();
    let mut errors = Correctness::default();
    let mut owed = std::collections::VecDeque::new();
    let max_owed = rate.map_or(0, |r| (r.ceil() as usize).max(1));
    let fixed_rate = schedule.is_some();
    let mut seq = 0u64;
    let mut publishing = true;
    while publishing || !confirms.is_empty() {
        tokio::select! {
            biased;
            () = shared.stop.cancelled() => break,
            Some((key, at, outcome)) = confirms.next(), if !confirms.is_empty() => {
                shared.answered.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(Confirmation::Ack(_) | Confirmation::NotRequested) => {
                        latency.record_nanos(clock.since(at));
                        shared.confirmed.fetch_add(1, Ordering::Relaxed);
                        keys.push(key);
                    }
                    Ok(Confirmation::Nack(_)) => errors.error("nacked"),
                    Err(e) => errors.error(format!("confirm failed: {e}")),
                }
            }
            () = shared.stop_publishing.cancelled(), if publishing => publishing = false,
            due = crate::scenario::traffic::tick(&mut schedule), if publishing => {
                owed.push_back(clock.at(due));
                if owed.len() > max_owed {
                    owed.pop_front();
                    errors.error("fell behind schedule");
                }
            }
            permit = window.acquire(), if publishing && (!fixed_rate || !owed.is_empty()) => {
                if let Ok(permit) = permit {
                    // Given back by the sink on receipt.
                    permit.forget();
                }
                let at = clock.now();
                let sent = owed.pop_front().unwrap_or(at);
                let body = Body { sender: index, seq, sent }.encode(body_bytes);
                // Not awaited here: the write and the confirm proceed while
                // the next messages are published (frames keep their order).
                let channel = channel.clone();
                let queue = queue.clone();
                confirms.push(async move {
                    let published = channel
                        .basic_publish(
                            ShortString::from(""),
                            ShortString::from(queue),
                            BasicPublishOptions::default(),
                            body.as_bytes(),
                            persistent(),
                        )
                        .await;
                    let outcome = match published {
                        Ok(confirm) => confirm.await,
                        Err(e) => Err(e),
                    };
                    ((index, seq), at, outcome)
                });
                shared.published.fetch_add(1, Ordering::Relaxed);
                seq += 1;
            }
        }
    }
    let _ = channel.close(200, "bench done".into()).await;
    Ok((latency, keys, errors))
}

/// How the relay works.
pub(super) struct Relaying {
    /// Unacked messages it may hold.
    pub(super) prefetch: u16,
    /// Most messages per batch.
    pub(super) batch: usize,
    /// Whether it republishes persistent messages (to a durable B).
    pub(super) persistent: bool,
    /// What it writes between the hops.
    pub(super) writes: Writes,
}

/// The relay: take what A has ready (up to `batch`), do its writes,
/// republish it all to B, wait for every confirm, then ack the batch at
/// once.
pub(super) async fn relay(
    consume: Channel,
    publish: Channel,
    queues: [String; 2],
    relaying: Relaying,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let Relaying {
        prefetch,
        batch,
        persistent: durable,
        mut writes,
    } = relaying;
    let properties = if durable {
        persistent()
    } else {
        BasicProperties::default().with_delivery_mode(1)
    };
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .context("enabling confirms")?;
    consume
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .context("setting the prefetch")?;
    let mut consumer = consume
        .basic_consume(
            queues[0].as_str().into(),
            "relay".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("consuming A")?;
    loop {
        let first = tokio::select! {
            () = shared.stop.cancelled() => break,
            next = consumer.next() => match next {
                Some(delivery) => delivery.context("consuming A")?,
                None => break,
            },
        };
        let mut deliveries = vec![first];
        while deliveries.len() < batch.max(1) {
            match consumer.next().now_or_never() {
                Some(Some(delivery)) => deliveries.push(delivery.context("consuming A")?),
                _ => break,
            }
        }
        let bodies: Vec<&[u8]> = deliveries.iter().map(|d| d.data.as_slice()).collect();
        writes.apply(&bodies).await?;
        // Every write at once (polled in order, so frames keep their
        // order), then every confirm.
        let writes = deliveries.iter().map(|delivery| {
            publish.basic_publish(
                ShortString::from(""),
                ShortString::from(queues[1].as_str()),
                BasicPublishOptions::default(),
                &delivery.data,
                properties.clone(),
            )
        });
        let confirms = try_join_all(writes).await.context("republishing to B")?;
        try_join_all(confirms).await.context("confirms from B")?;
        if let Some(last) = deliveries.last() {
            last.acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .context("acking A")?;
        }
    }
    let _ = consume.close(200, "bench done".into()).await;
    let _ = publish.close(200, "bench done".into()).await;
    Ok(())
}

/// The sink: consume B, record latencies, open the publishers' windows, ack
/// in batches. Returns the latencies, the keys received and the duplicates.
pub(super) async fn sink(
    channel: Channel,
    queue: String,
    prefetch: u16,
    shared: Arc<Shared>,
) -> anyhow::Result<(Latency, HashSet<(usize, u64)>, u64)> {
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .context("setting the prefetch")?;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "sink".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("consuming B")?;
    let clock = shared.clock;
    let mut latency = Latency::new();
    let mut received = HashSet::new();
    let mut duplicated = 0;
    loop {
        let first = tokio::select! {
            () = shared.stop.cancelled() => break,
            next = consumer.next() => match next {
                Some(delivery) => delivery.context("consuming B")?,
                None => break,
            },
        };
        let mut deliveries = vec![first];
        while deliveries.len() < usize::from(prefetch) {
            match consumer.next().now_or_never() {
                Some(Some(delivery)) => deliveries.push(delivery.context("consuming B")?),
                _ => break,
            }
        }
        let now = clock.now();
        for delivery in &deliveries {
            let Some(body) = std::str::from_utf8(&delivery.data)
                .ok()
                .and_then(Body::decode)
            else {
                continue;
            };
            if !received.insert((body.sender, body.seq)) {
                duplicated += 1;
                continue;
            }
            latency.record_nanos(now.saturating_sub(body.sent));
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            shared.last_delivery.fetch_max(now, Ordering::Relaxed);
            shared.timeline.add(1);
            if let Some(window) = shared.windows.get(body.sender) {
                window.add_permits(1);
            }
        }
        if let Some(last) = deliveries.last() {
            last.acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .context("acking B")?;
        }
    }
    let _ = channel.close(200, "bench done".into()).await;
    Ok((latency, received, duplicated))
}
