//! Publishes envelopes to the input shards with publisher confirms, on one
//! long-lived channel, coalescing: what the node's connections hand over
//! while a publish is being written goes out as one AMQP message per shard
//! (a JSON array, at most [`MAX_COALESCED`] items), whose one confirm
//! answers all of them. Alone, an item goes out at once, as itself: nothing
//! waits for company. Items keep the order they were handed over in, per
//! shard, so a connection's sends (handed over one after another) reach
//! their shard in order.
//!
//! The channel is opened, and opened again after the broker failed, by
//! [`Publisher::keep_open`] on a task of its own, never by a session: a
//! session that needs the broker while there is no channel is answered at
//! once (`unavailable`, send again with the same id) instead of waiting for
//! a reconnect: a broker handshake can hang (see `confab_common::broker`),
//! and a session waiting on it would stop writing deliveries while its
//! client stayed connected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use confab_common::broker::{Broker, BrokerError, CHECK_INTERVAL, Confirmed, Leased};
use confab_common::envelope::Input;
use confab_common::metric::Stage;
use confab_common::retry::Backoff;
use confab_common::topology::{self, Topology};
use lapin::Channel;
use lapin::options::ConfirmSelectOptions;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Most items in one AMQP message.
pub const MAX_COALESCED: usize = 256;

/// Why a message is not (known to be) in the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("no channel to the broker (reconnecting)")]
    NotConnected,
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("the broker refused the message")]
    Nacked,
    #[error("the input queue does not exist")]
    Unroutable,
    #[error("no confirm within {0:?}")]
    Timeout(Duration),
    #[error("cannot encode the envelope: {0}")]
    Encode(#[from] serde_json::Error),
    /// The failure of the AMQP message this item went out in.
    #[error(transparent)]
    Shared(Arc<PublishError>),
}

/// An item handed over, and who waits for its confirm.
struct Pending {
    shard: u16,
    payload: Vec<u8>,
    /// A message's read time, for its `published` stage.
    read_us: Option<i64>,
    done: oneshot::Sender<Result<(), PublishError>>,
}

/// The node's publisher.
pub struct Publisher {
    broker: Broker,
    topology: Topology,
    /// How long a publish may wait for its confirm.
    confirm_timeout: Duration,
    /// The channel in use and the pooled connection it lives on. A std mutex,
    /// held only to clone or replace the handle, never across an await.
    current: std::sync::Mutex<Option<(Channel, Arc<Leased>)>>,
    /// Wakes [`Publisher::keep_open`] when a publish found the channel broken.
    broken: Notify,
    /// Items handed over, to the coalescer.
    queue: mpsc::UnboundedSender<Pending>,
    /// The coalescer's end, taken by [`Publisher::keep_open`].
    queued: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Pending>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher that waits at most `confirm_timeout` for each confirm. It
    /// has no channel until [`Publisher::keep_open`] runs.
    pub fn new(broker: Broker, topology: Topology, confirm_timeout: Duration) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        Self {
            broker,
            topology,
            confirm_timeout,
            current: std::sync::Mutex::new(None),
            broken: Notify::new(),
            queue,
            queued: std::sync::Mutex::new(Some(queued)),
        }
    }

    /// Hands `input` over for publishing (persistent, mandatory, to its
    /// conversation's shard) and returns a future that resolves once the
    /// broker confirmed it. Items handed over by one caller in sequence reach
    /// their shard in that order. Never waits for a reconnect: without a
    /// channel it fails at once.
    pub async fn publish(
        &self,
        input: &Input,
    ) -> Result<impl Future<Output = Result<(), PublishError>> + use<>, PublishError> {
        let payload = serde_json::to_vec(input)?;
        // One conversation, one shard: its order is kept by that shard's
        // active dispatcher.
        let shard = self.topology.shard_of(input.shard_key());
        if self.healthy().is_none() {
            self.broken.notify_one();
            return Err(PublishError::NotConnected);
        }
        let (done, confirmed) = oneshot::channel();
        let read_us = match input {
            Input::Message(envelope) => envelope.read_us,
            Input::Signal(_) | Input::Notice(_) => None,
        };
        let pending = Pending {
            shard,
            payload,
            read_us,
            done,
        };
        self.queue
            .send(pending)
            .map_err(|_| PublishError::NotConnected)?;
        let timeout = self.confirm_timeout;
        Ok(async move {
            match tokio::time::timeout(timeout, confirmed).await {
                Err(_) => Err(PublishError::Timeout(timeout)),
                // The coalescer stopped (the node is stopping).
                Ok(Err(_)) => Err(PublishError::NotConnected),
                Ok(Ok(outcome)) => outcome,
            }
        })
    }

    /// Publishes what is handed over until every sender is gone: whatever
    /// waits, grouped by shard (each shard's items in order), one AMQP
    /// message per shard.
    async fn coalesce(self: Arc<Self>, mut queued: mpsc::UnboundedReceiver<Pending>) {
        let mut taken = Vec::with_capacity(MAX_COALESCED);
        while queued.recv_many(&mut taken, MAX_COALESCED).await > 0 {
            let mut shards: BTreeMap<u16, Vec<Pending>> = BTreeMap::new();
            for pending in taken.drain(..) {
                shards.entry(pending.shard).or_default().push(pending);
            }
            for (shard, items) in shards {
                self.publish_together(shard, items).await;
            }
        }
    }

    /// Publishes `items` as one AMQP message and answers each of them when
    /// its confirm (or failure) is known, without waiting for it here.
    async fn publish_together(&self, shard: u16, items: Vec<Pending>) {
        let Some(channel) = self.healthy() else {
            self.broken.notify_one();
            answer(items, Err(PublishError::NotConnected));
            return;
        };
        let payload = match items.as_slice() {
            [one] => one.payload.clone(),
            many => {
                let mut body =
                    Vec::with_capacity(many.iter().map(|p| p.payload.len() + 1).sum::<usize>() + 1);
                for (i, pending) in many.iter().enumerate() {
                    body.push(if i == 0 { b'[' } else { b',' });
                    body.extend_from_slice(&pending.payload);
                }
                body.push(b']');
                body
            }
        };
        let queue = self.topology.input(shard);
        let properties = topology::persistent_json();
        let published = (self.broker)
            .publish(&channel, &queue, &payload, properties)
            .await;
        let confirm = match published {
            Ok(confirm) => {
                Stage::Published.reached_all(items.iter().filter_map(|p| p.read_us));
                confirm
            }
            Err(e) => {
                self.forget(&channel);
                answer(items, Err(e.into()));
                return;
            }
        };
        let timeout = self.confirm_timeout;
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(timeout, confirm.confirmed()).await {
                Err(_) => Err(PublishError::Timeout(timeout)),
                Ok(Err(e)) => Err(BrokerError::from(e).into()),
                Ok(Ok(Confirmed::Acked)) => Ok(()),
                // No input shard: unroutable, stored nowhere.
                Ok(Ok(Confirmed::Returned(_))) => Err(PublishError::Unroutable),
                Ok(Ok(Confirmed::Nacked)) => Err(PublishError::Nacked),
            };
            answer(items, outcome);
        });
    }

    /// Runs the coalescer and keeps the channel open until `shutdown`: opens
    /// it (declaring the input shards), and opens it again whenever it
    /// broke, with backoff. `opened` is cancelled the first time a channel
    /// is open.
    pub async fn keep_open(
        self: Arc<Self>,
        opened: CancellationToken,
        shutdown: CancellationToken,
    ) {
        let queued = self.queued.lock().unwrap_or_else(|e| e.into_inner()).take();
        let _coalescer = queued.map(|queued| {
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(self.clone().coalesce(queued)))
        });
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        while !shutdown.is_cancelled() {
            if self.healthy().is_some() {
                tokio::select! {
                    () = self.broken.notified() => {},
                    // lapin marks a channel of a dead connection as not
                    // connected: the look finds it even when no publish did.
                    () = tokio::time::sleep(CHECK_INTERVAL) => {},
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            match self.open().await {
                Ok(()) => {
                    backoff.reset();
                    opened.cancel();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the publish channel; retrying");
                    if !backoff.wait(&shutdown).await {
                        break;
                    }
                }
            }
        }
        let open = self.lock().take();
        if let Some((channel, _connection)) = open {
            let _ = self
                .broker
                .bounded("channel.close", channel.close(200, "node stopping".into()))
                .await;
        }
    }

    /// Opens a channel with confirms on a pooled connection and declares
    /// the input shards; every step within the broker bound.
    async fn open(&self) -> Result<(), BrokerError> {
        // A broken connection goes back to the pool, which drops it.
        self.lock().take();
        let connection = self.broker.connection().await?;
        let opened = async {
            let channel = self.broker.open_channel(&connection).await?;
            self.broker
                .bounded(
                    "confirm.select",
                    channel.confirm_select(ConfirmSelectOptions::default()),
                )
                .await?;
            self.broker
                .bounded(
                    "queue.declare input",
                    self.topology.declare_input(&connection),
                )
                .await?;
            Ok::<_, BrokerError>(channel)
        }
        .await;
        match opened {
            Ok(channel) => {
                *self.lock() = Some((channel, Arc::new(connection)));
                tracing::info!("publish channel open");
                Ok(())
            }
            Err(e) => {
                // The connection may be the broken part: keep it out of the pool.
                self.broker.discard(connection);
                Err(e)
            }
        }
    }

    fn healthy(&self) -> Option<Channel> {
        self.lock()
            .as_ref()
            .filter(|(channel, _)| channel.status().connected())
            .map(|(channel, _)| channel.clone())
    }

    /// Drops `broken` if it is still the channel in use, and wakes the keeper.
    fn forget(&self, broken: &Channel) {
        let gone = {
            let mut current = self.lock();
            if current.as_ref().is_some_and(|(c, _)| c.id() == broken.id()) {
                current.take()
            } else {
                None
            }
        };
        if let Some((_, connection)) = gone {
            // The next channel is asked of another member first.
            self.broker.distrust(connection.member());
        }
        self.broken.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Channel, Arc<Leased>)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers every item of one AMQP message with its outcome.
fn answer(items: Vec<Pending>, outcome: Result<(), PublishError>) {
    let outcome = outcome.map_err(Arc::new);
    for pending in items {
        let _ = pending
            .done
            .send(outcome.clone().map_err(PublishError::Shared));
    }
}
