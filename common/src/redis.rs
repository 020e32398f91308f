//! The one Redis connection every user of Redis takes, [`Redis`]: a single
//! Redis (the default) or a Redis Cluster (`REDIS_CLUSTER_NODES`), behind
//! one cloneable type that runs commands and pipelines like any redis-rs
//! connection.
//!
//! A cluster refuses a pipeline, a MULTI/EXEC or a script whose keys span
//! slots (CROSSSLOT; redis-rs refuses a cross-slot pipeline before sending
//! it). The keys used together share a hash tag (`crate::keys`), and what
//! still spans users is run here by slot: [`Redis::run`] takes a [`Batch`]
//! of commands and sends one pipeline per slot, concurrently — and one
//! pipeline in all on a single Redis, so nothing there costs more.
//! [`Redis::in_order`] runs two pipelines on different slots so that the
//! second never takes effect without the first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use crate::keys;

/// A connection to Confab's Redis, single or cluster. Clones share the
/// connection (multiplexed): clone one per call.
#[derive(Clone)]
pub enum Redis {
    /// One Redis (`REDIS_URL`), reconnected after a restart.
    Single(ConnectionManager),
    /// A Redis Cluster (`REDIS_CLUSTER_NODES`): each command goes to the
    /// master of its key's slot, redirections and failovers followed.
    Cluster(Arc<ClusterLink>),
}

/// The cluster connection, replaced by a fresh one when it stops working.
///
/// Why: redis-rs (1.8) refreshes its slot map on a redirection and when a
/// node's connection drops, but a master killed before its replica is
/// promoted leaves the refreshed map pointing at the dead master, and
/// nothing refreshes it again: every command for its slots failed (timed
/// out) for as long as the process lived (seen here: > 1 min after the
/// promotion, under `confab-faults --topology cluster`). A fresh connection
/// starts from the seeds and reads the map anew, so after a failure of the
/// kind a dead node gives (timeout, I/O, refused, cluster down) the next
/// commands get one, at most once per [`REBUILD_EVERY`]. Commands already
/// in flight finish on the old one.
pub struct ClusterLink {
    client: ClusterClient,
    config: ClusterConfig,
    current: std::sync::RwLock<ClusterConnection>,
    rebuilt: std::sync::Mutex<Instant>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink").finish_non_exhaustive()
    }
}

/// How often at most the cluster connection is replaced.
const REBUILD_EVERY: Duration = Duration::from_secs(1);

impl ClusterLink {
    /// A lazy connection to the cluster of `client` (connected on first
    /// use).
    pub fn new(client: ClusterClient, config: ClusterConfig) -> Self {
        let current = client.get_pending_async_connection_with_config(config.clone());
        Self {
            client,
            config,
            current: std::sync::RwLock::new(current),
            rebuilt: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn connection(&self) -> ClusterConnection {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Takes note of `error`: one a dead or unreachable node gives replaces
    /// the connection (unless it was replaced within [`REBUILD_EVERY`]).
    fn failed(&self, error: &redis::RedisError) {
        let node_trouble = error.is_timeout()
            || error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_cluster_error();
        if !node_trouble {
            return;
        }
        {
            let mut rebuilt = self
                .rebuilt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if rebuilt.elapsed() < REBUILD_EVERY {
                return;
            }
            *rebuilt = Instant::now();
        }
        tracing::warn!(error = %error, "Redis Cluster: a new connection, with the slot map read anew");
        let fresh = self
            .client
            .get_pending_async_connection_with_config(self.config.clone());
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Redis::Single",
            Self::Cluster(_) => "Redis::Cluster",
        })
    }
}

impl From<ConnectionManager> for Redis {
    fn from(connection: ConnectionManager) -> Self {
        Self::Single(connection)
    }
}

impl From<ClusterLink> for Redis {
    fn from(link: ClusterLink) -> Self {
        Self::Cluster(Arc::new(link))
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(link) => {
                let link = link.clone();
                Box::pin(async move {
                    let replied = link.connection().req_packed_command(cmd).await;
                    if let Err(e) = &replied {
                        link.failed(e);
                    }
                    replied
                })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(link) => {
                let link = link.clone();
                Box::pin(async move {
                    let replied = link
                        .connection()
                        .req_packed_commands(pipeline, offset, count)
                        .await;
                    if let Err(e) = &replied {
                        link.failed(e);
                    }
                    replied
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(link) => link.connection().get_db(),
        }
    }
}

/// Commands to run together whatever slots their keys are in, each
/// command's keys in one slot ([`Redis::run`]).
#[derive(Default)]
pub struct Batch {
    /// Each command with its keys' slot.
    commands: Vec<(u16, Cmd)>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("commands", &self.commands.len())
            .finish()
    }
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `cmd`, all of whose keys are in `key`'s slot (`key` itself, or
    /// keys with its hash tag).
    pub fn add(&mut self, key: &str, cmd: Cmd) -> &mut Self {
        self.commands.push((keys::slot(key.as_bytes()), cmd));
        self
    }

    /// How many commands there are.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// How many pipelines a cluster runs this in (one per slot).
    pub fn slots(&self) -> usize {
        let mut slots: Vec<u16> = self.commands.iter().map(|(slot, _)| *slot).collect();
        slots.sort_unstable();
        slots.dedup();
        slots.len()
    }
}

impl Redis {
    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs `batch` and reads every reply, in the batch's order, as `T` (a
    /// tuple, a `Vec<Value>`, `()`…), as a pipeline's replies are read. On
    /// a single Redis it is one pipeline (one round trip); in a cluster,
    /// one pipeline per slot, all at once (one round trip to each master
    /// involved, concurrently). Not atomic either way; fails if any
    /// pipeline fails (others may have taken effect).
    pub async fn run<T: FromRedisValue>(&self, batch: Batch) -> RedisResult<T> {
        let count = batch.commands.len();
        if count == 0 {
            return Ok(redis::from_redis_value(Value::Array(Vec::new()))?);
        }
        let replies = match self {
            Self::Single(_) => {
                let mut pipe = redis::pipe();
                for (_, cmd) in batch.commands {
                    pipe.add_command(cmd);
                }
                pipe.query_async::<Vec<Value>>(&mut self.clone()).await?
            }
            Self::Cluster(_) => self.run_by_slot(batch.commands, count).await?,
        };
        Ok(redis::from_redis_value(Value::Array(replies))?)
    }

    /// One pipeline per slot, concurrently; the replies put back in the
    /// commands' order.
    async fn run_by_slot(
        &self,
        commands: Vec<(u16, Cmd)>,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let mut groups: BTreeMap<u16, (Pipeline, Vec<usize>)> = BTreeMap::new();
        for (at, (slot, cmd)) in commands.into_iter().enumerate() {
            let (pipe, places) = groups
                .entry(slot)
                .or_insert_with(|| (redis::pipe(), Vec::new()));
            pipe.add_command(cmd);
            places.push(at);
        }
        let answered = try_join_all(groups.into_values().map(|(pipe, places)| {
            let mut connection = self.clone();
            async move {
                let replies: Vec<Value> = pipe.query_async(&mut connection).await?;
                RedisResult::Ok((places, replies))
            }
        }))
        .await?;
        let mut replies = vec![Value::Nil; count];
        for (places, group_replies) in answered {
            for (at, reply) in places.into_iter().zip(group_replies) {
                replies[at] = reply;
            }
        }
        Ok(replies)
    }

    /// Runs `first`, then `then`, so that `then` never takes effect without
    /// `first` (a process that dies between the two leaves `first` alone):
    /// both pipelines may hold keys of another slot than each other's. On a
    /// single Redis they go as one MULTI/EXEC (one round trip; the order
    /// holds, and more); in a cluster, where they may be on two masters,
    /// `then` is sent once `first` has answered. Each pipeline's own
    /// `atomic()` is kept in a cluster. The pipelines must not `ignore()`
    /// anything: every reply comes back, `first`'s then `then`'s.
    pub async fn in_order(
        &self,
        first: &Pipeline,
        then: &Pipeline,
    ) -> RedisResult<(Vec<Value>, Vec<Value>)> {
        match self {
            Self::Single(_) => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for cmd in first.cmd_iter().chain(then.cmd_iter()) {
                    pipe.add_command(cmd.clone());
                }
                let mut replies: Vec<Value> = pipe.query_async(&mut self.clone()).await?;
                let rest = replies.split_off(first.len().min(replies.len()));
                Ok((replies, rest))
            }
            Self::Cluster(_) => {
                let first: Vec<Value> = first.query_async(&mut self.clone()).await?;
                let then: Vec<Value> = then.query_async(&mut self.clone()).await?;
                Ok((first, then))
            }
        }
    }
}

/// Reply `at` of a pipeline's or a batch's `replies`, read as `T` (a
/// missing one reads as nil).
pub fn reply<T: FromRedisValue>(mut replies: Vec<Value>, at: usize) -> RedisResult<T> {
    let value = if at < replies.len() {
        replies.swap_remove(at)
    } else {
        Value::Nil
    };
    Ok(redis::from_redis_value(value)?)
}

#[cfg(test)]
mod tests;
