//! Presence: which users are connected, and on which node.
//!
//! Layout (all keys under the configured prefix):
//! `presence:{user_id}` is a hash whose fields are `{node_id}:{connection_id}`
//! and whose values are the Unix millisecond time until which that connection
//! counts as alive. The node that holds a connection refreshes its field and
//! the key's TTL while the connection lives and deletes the field when it
//! closes; a node that dies stops refreshing, so its fields lapse (readers
//! skip lapsed fields) and the key itself expires after [`PRESENCE_TTL`].

use std::collections::HashSet;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::ids::{UserId, now_ms};

/// How long a connection counts as present without a refresh.
pub const PRESENCE_TTL: Duration = Duration::from_secs(60);

/// Reads (and, from the node, writes) presence.
#[derive(Clone)]
pub struct Presence {
    redis: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Presence {
    /// Presence stored in `redis` under `prefix`.
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
        }
    }

    /// The key holding `user`'s connections.
    pub fn key(&self, user: UserId) -> String {
        format!("{}presence:{}", self.prefix, user.0)
    }

    /// The subset of `users` with at least one live connection, in one
    /// pipelined round trip.
    pub async fn online(&self, users: &[UserId]) -> redis::RedisResult<HashSet<UserId>> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        let mut pipe = redis::pipe();
        for &user in users {
            pipe.hvals(self.key(user));
        }
        let expiries: Vec<Vec<i64>> = pipe.query_async(&mut self.redis.clone()).await?;
        let now = now_ms();
        Ok(users
            .iter()
            .zip(expiries)
            .filter(|(_, until)| until.iter().any(|&t| t > now))
            .map(|(&user, _)| user)
            .collect())
    }

    /// Whether `user` has at least one live connection.
    pub async fn is_online(&self, user: UserId) -> redis::RedisResult<bool> {
        Ok(!self.online(&[user]).await?.is_empty())
    }

    /// Records (or refreshes) one connection of `user` held by `connection`
    /// (`{node_id}:{connection_id}`).
    pub async fn register(&self, user: UserId, connection: &str) -> redis::RedisResult<()> {
        let key = self.key(user);
        let until = now_ms() + i64::try_from(PRESENCE_TTL.as_millis()).unwrap_or(i64::MAX);
        let ttl = i64::try_from(PRESENCE_TTL.as_secs()).unwrap_or(60);
        redis::pipe()
            .atomic()
            .hset(&key, connection, until)
            .ignore()
            .expire(&key, ttl)
            .ignore()
            .exec_async(&mut self.redis.clone())
            .await
    }

    /// Forgets one connection of `user`.
    pub async fn unregister(&self, user: UserId, connection: &str) -> redis::RedisResult<()> {
        let () = redis::cmd("HDEL")
            .arg(self.key(user))
            .arg(connection)
            .exec_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }
}
