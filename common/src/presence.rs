//! Presence: which users are connected, and on which node.
//!
//! Layout (every key under the configured prefix; shapes in `crate::keys`):
//!
//! - `nodes`: a hash, field `<node_id>` → `<incarnation>:<alive_until_ms>`.
//!   Each node rewrites its field every [`HEARTBEAT_INTERVAL`]; a node whose
//!   time has passed, or whose incarnation differs (it restarted), is dead.
//! - `presence` of a user: a hash, field `<node>:<incarnation>:<connection>`
//!   → Unix ms of the connection's start. The node adds the field when a
//!   connection opens and removes it when it closes; the key expires
//!   [`PRESENCE_KEY_TTL`] after the user's last connect.
//! - `node_users` of a node process: a set of the users with a connection
//!   on it, so that when it dies without closing them, whoever reaps its
//!   record ([`Presence::reap`]) can tell which users went offline with it.
//!   Deleted by the reaper (or the node's next start).
//!
//! A connection counts as present while its node's incarnation is alive, so a
//! node that dies leaves no presence behind after [`NODE_TTL`], without a
//! refresh per connection: one heartbeat per node keeps all its connections
//! present.
//!
//! In a Redis Cluster a user's key and the registry (`nodes`, `node_users`)
//! are in different slots (`crate::keys`), so a connect or disconnect is two
//! steps, in the order that keeps one rule: *a user with a field of node
//! process P in their presence hash is in P's `node_users`*, so that the
//! reaper of P re-checks every user P may have left online. Connect adds to
//! `node_users` first and then the field; disconnect removes the field first
//! and then (for the user's last connection on the node) the `node_users`
//! entry. A process that dies between the steps leaves an extra
//! `node_users` entry, which costs the reaper one look-up. On a single Redis
//! both steps are one MULTI/EXEC, as they always were
//! ([`Redis::in_order`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use redis::{Cmd, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{NodeId, UserId, now_ms};
use crate::keys::Keyspace;
use crate::redis::{Batch, Redis, reply};

/// How often a node announces that it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// How long a node counts as alive after its last heartbeat.
pub const NODE_TTL: Duration = Duration::from_secs(15);
/// How long a user's presence hash outlives their last connect (it only
/// matters for entries a dead node could not remove).
pub const PRESENCE_KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// One WebSocket connection, cluster-wide: node, node incarnation (a random
/// number per process start) and a per-process counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub node: NodeId,
    pub incarnation: u64,
    pub conn: u64,
}

impl fmt::Display for ConnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.node, self.incarnation, self.conn)
    }
}

/// Why a string is not a [`ConnKey`].
#[derive(Debug, thiserror::Error)]
#[error("a connection key is node:incarnation:connection")]
pub struct InvalidConnKey;

impl FromStr for ConnKey {
    type Err = InvalidConnKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let mut next = || parts.next().ok_or(InvalidConnKey);
        Ok(Self {
            node: NodeId(next()?.parse().map_err(|_| InvalidConnKey)?),
            incarnation: next()?.parse().map_err(|_| InvalidConnKey)?,
            conn: next()?.parse().map_err(|_| InvalidConnKey)?,
        })
    }
}

impl Serialize for ConnKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConnKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Reads and writes presence.
#[derive(Clone)]
pub struct Presence {
    redis: Redis,
    keys: Keyspace,
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presence")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl Presence {
    /// Presence stored in `redis` under `prefix`.
    pub fn new(redis: impl Into<Redis>, prefix: impl Into<String>) -> Self {
        Self {
            redis: redis.into(),
            keys: Keyspace::new(prefix),
        }
    }

    fn user_key(&self, user: UserId) -> String {
        self.keys.presence(user)
    }

    fn nodes_key(&self) -> String {
        self.keys.nodes()
    }

    fn node_users_key(&self, node: NodeId, incarnation: u64) -> String {
        self.keys.node_users(node, incarnation)
    }

    /// The incarnation `node`'s record names, alive or not: read by a node
    /// before its first heartbeat replaces it, to reap the process it
    /// replaces ([`Presence::reap_incarnation`]).
    pub async fn incarnation_of(&self, node: NodeId) -> redis::RedisResult<Option<u64>> {
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.nodes_key())
            .arg(node.0)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(record
            .as_deref()
            .and_then(|r| r.split_once(':'))
            .and_then(|(inc, _)| inc.parse().ok()))
    }

    /// Records `user`'s connection `key`; true if it is the user's only
    /// live connection now (their first device came online). Atomic on the
    /// user's key (the field is added and the fields read in one MULTI), so
    /// of two devices connecting at once exactly one is first. The user is
    /// put in the node process's `node_users` before (module docs).
    pub async fn connect(&self, user: UserId, key: ConnKey) -> redis::RedisResult<bool> {
        let user_key = self.user_key(user);
        let ttl = i64::try_from(PRESENCE_KEY_TTL.as_secs()).unwrap_or(i64::MAX);
        let mut registry = redis::pipe();
        registry
            .sadd(self.node_users_key(key.node, key.incarnation), user.0)
            .hgetall(self.nodes_key());
        let mut own = redis::pipe();
        own.atomic()
            .hset(&user_key, key.to_string(), now_ms())
            .expire(&user_key, ttl)
            .hkeys(&user_key);
        let (registry, own) = self.redis.in_order(&registry, &own).await?;
        let nodes: HashMap<u16, String> = reply(registry, 1)?;
        let fields: Vec<String> = reply(own, 2)?;
        Ok(live(&fields, &alive(nodes)).all(|k| k == key))
    }

    /// Forgets `user`'s connection `key` (`last_here`: the user has no other
    /// connection on this node); true if the user has no live connection
    /// left (their last device went offline). The field goes before the
    /// `node_users` entry (module docs).
    pub async fn disconnect(
        &self,
        user: UserId,
        key: ConnKey,
        last_here: bool,
    ) -> redis::RedisResult<bool> {
        let user_key = self.user_key(user);
        let mut own = redis::pipe();
        own.atomic()
            .hdel(&user_key, key.to_string())
            .hkeys(&user_key);
        let mut registry = redis::pipe();
        registry.hgetall(self.nodes_key());
        if last_here {
            registry.srem(self.node_users_key(key.node, key.incarnation), user.0);
        }
        let (own, registry) = self.redis.in_order(&own, &registry).await?;
        let fields: Vec<String> = reply(own, 1)?;
        let nodes: HashMap<u16, String> = reply(registry, 0)?;
        Ok(live(&fields, &alive(nodes)).next().is_none())
    }

    /// Claims the records of node processes that stopped beating and
    /// returns the users who went offline with them (no live connection
    /// left). Each dead record is claimed by one caller only, so any number
    /// of reapers may run.
    pub async fn reap(&self) -> redis::RedisResult<Vec<UserId>> {
        let nodes: HashMap<u16, String> = redis::cmd("HGETALL")
            .arg(self.nodes_key())
            .query_async(&mut self.redis.clone())
            .await?;
        let now = now_ms();
        let claim = redis::Script::new(
            r"if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2]
              then return redis.call('HDEL', KEYS[1], ARGV[1]) else return 0 end",
        );
        let mut offline = Vec::new();
        for (node, record) in nodes {
            let Some((incarnation, until)) = record.split_once(':') else {
                continue;
            };
            let (Ok(incarnation), Ok(until)) = (incarnation.parse(), until.parse::<i64>()) else {
                continue;
            };
            if until > now {
                continue;
            }
            let claimed: i64 = claim
                .key(self.nodes_key())
                .arg(node)
                .arg(&record)
                .invoke_async(&mut self.redis.clone())
                .await?;
            if claimed == 1 {
                offline.extend(self.reap_incarnation(NodeId(node), incarnation).await?);
            }
        }
        Ok(offline)
    }

    /// The users of a node process that is gone who have no live
    /// connection left; forgets the process's user set.
    pub async fn reap_incarnation(
        &self,
        node: NodeId,
        incarnation: u64,
    ) -> redis::RedisResult<Vec<UserId>> {
        let key = self.node_users_key(node, incarnation);
        let (users,): (Vec<i64>,) = redis::pipe()
            .atomic()
            .smembers(&key)
            .del(&key)
            .ignore()
            .query_async(&mut self.redis.clone())
            .await?;
        let users: Vec<UserId> = users.into_iter().map(UserId).collect();
        let located = self.locate(&users).await?;
        Ok(users
            .into_iter()
            .filter(|u| !located.contains_key(u))
            .collect())
    }

    /// Announces that `node` (this `incarnation`) is alive for [`NODE_TTL`].
    /// Returns false if Redis had no live record of this incarnation: on the
    /// first heartbeat, after Redis lost its data, or after the node missed
    /// beats for longer than [`NODE_TTL`]. Then the node must register its
    /// connections again and have them catch up.
    pub async fn heartbeat(&self, node: NodeId, incarnation: u64) -> redis::RedisResult<bool> {
        let until = now_ms() + millis(NODE_TTL);
        let key = self.nodes_key();
        let (previous,): (Option<String>,) = redis::pipe()
            .atomic()
            .hget(&key, node.0)
            .hset(&key, node.0, format!("{incarnation}:{until}"))
            .ignore()
            .query_async(&mut self.redis.clone())
            .await?;
        // Alive before this beat only if the record was ours and unexpired:
        // otherwise readers saw our connections as gone meanwhile.
        let now = now_ms();
        Ok(previous
            .as_deref()
            .and_then(|p| p.split_once(':'))
            .is_some_and(|(inc, until)| {
                inc == incarnation.to_string() && until.parse::<i64>().is_ok_and(|u| u > now)
            }))
    }

    /// Marks `node` (this `incarnation`) dead at once (graceful shutdown,
    /// after its connections closed).
    pub async fn remove_node(&self, node: NodeId, incarnation: u64) -> redis::RedisResult<()> {
        redis::pipe()
            .hdel(self.nodes_key(), node.0)
            .ignore()
            .del(self.node_users_key(node, incarnation))
            .ignore()
            .exec_async(&mut self.redis.clone())
            .await
    }

    /// Records connections (user, key): every `node_users` entry, then
    /// every field (module docs), each step one pipeline per slot.
    pub async fn register(&self, connections: &[(UserId, ConnKey)]) -> redis::RedisResult<()> {
        if connections.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let ttl = i64::try_from(PRESENCE_KEY_TTL.as_secs()).unwrap_or(i64::MAX);
        let (mut registry, mut own) = (Batch::new(), Batch::new());
        for (user, key) in connections {
            let node_users = self.node_users_key(key.node, key.incarnation);
            registry.add(&node_users, Cmd::sadd(&node_users, user.0));
            let user_key = self.user_key(*user);
            own.add(&user_key, Cmd::hset(&user_key, key.to_string(), now));
            own.add(&user_key, Cmd::expire(&user_key, ttl));
        }
        let () = self.redis.run(registry).await?;
        self.redis.run(own).await
    }

    /// The live connections of each of `users`, in one pipelined round trip
    /// (one per slot, concurrently, in a cluster); users without any are
    /// left out.
    pub async fn locate(
        &self,
        users: &[UserId],
    ) -> redis::RedisResult<HashMap<UserId, Vec<ConnKey>>> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let mut batch = Batch::new();
        let nodes_key = self.nodes_key();
        batch.add(&nodes_key, Cmd::hgetall(&nodes_key));
        for &user in users {
            let user_key = self.user_key(user);
            batch.add(&user_key, Cmd::hkeys(&user_key));
        }
        let mut replies: Vec<Value> = self.redis.run(batch).await?;
        let fields = replies
            .split_off(1)
            .into_iter()
            .map(redis::from_redis_value::<Vec<String>>)
            .collect::<Result<Vec<_>, _>>()?;
        let nodes: HashMap<u16, String> = reply(replies, 0)?;
        let alive = alive(nodes);
        Ok(users
            .iter()
            .zip(fields)
            .filter_map(|(&user, fields)| {
                let live: Vec<ConnKey> = live(&fields, &alive).collect();
                (!live.is_empty()).then_some((user, live))
            })
            .collect())
    }

    /// The subset of `users` with at least one live connection.
    pub async fn online(&self, users: &[UserId]) -> redis::RedisResult<HashSet<UserId>> {
        Ok(self.locate(users).await?.into_keys().collect())
    }
}

/// The incarnation of each node whose record is unexpired.
fn alive(nodes: HashMap<u16, String>) -> HashMap<u16, u64> {
    let now = now_ms();
    nodes
        .into_iter()
        .filter_map(|(node, value)| {
            let (incarnation, until) = value.split_once(':')?;
            let until: i64 = until.parse().ok()?;
            (until > now).then_some((node, incarnation.parse().ok()?))
        })
        .collect()
}

/// The connections among `fields` whose node process is alive.
fn live<'a>(
    fields: &'a [String],
    alive: &'a HashMap<u16, u64>,
) -> impl Iterator<Item = ConnKey> + 'a {
    fields
        .iter()
        .filter_map(|f| f.parse::<ConnKey>().ok())
        .filter(|k| alive.get(&k.node.0) == Some(&k.incarnation))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
