//! Which dispatcher an input shard belongs to, when it is up: a dispatcher
//! announces its home shards (`DISPATCHER_SHARDS`) in Redis while it is
//! subscribed to them, and a dispatcher that is active on a shard that is
//! another's home hands it over (it re-subscribes, which puts it behind the
//! home dispatcher in the shard's single-active-consumer line). So a
//! dispatcher that starts after another took its shards gets them back,
//! with the same failover ordering as a crash (RabbitMQ 3.10 ignores
//! consumer priorities with single active consumer, which would otherwise
//! do this).
//!
//! Key (under the prefix): `dispatcher_home:<shard>` → the home dispatcher's
//! instance id, [`HOME_TTL`], refreshed every [`ANNOUNCE_EVERY`]. Losing
//! Redis only delays a handover. Every command and the withdrawal's script
//! touch that one key, so they run as they are on a Redis Cluster.

use std::time::Duration;

use confab_common::keys::Keyspace;
use confab_common::redis::Redis;

/// How long an announcement lasts without being refreshed.
pub const HOME_TTL: Duration = Duration::from_secs(15);

/// How often a dispatcher announces its home shards, and how often one
/// active on another's shard checks for its home dispatcher.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);

/// This dispatcher's view of shard ownership.
#[derive(Clone)]
pub struct Homes {
    redis: Redis,
    keys: Keyspace,
    /// This dispatcher process (a fresh id per start).
    me: String,
}

impl std::fmt::Debug for Homes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Homes")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Homes {
    /// Ownership kept in `redis` under `prefix`, for the dispatcher `me`.
    pub fn new(redis: impl Into<Redis>, prefix: impl Into<String>, me: impl Into<String>) -> Self {
        Self {
            redis: redis.into(),
            keys: Keyspace::new(prefix),
            me: me.into(),
        }
    }

    /// This dispatcher's instance id.
    pub fn me(&self) -> &str {
        &self.me
    }

    fn key(&self, shard: u16) -> String {
        self.keys.dispatcher_home(shard)
    }

    /// Says that this dispatcher, whose home `shard` is, is subscribed to it.
    pub async fn announce(&self, shard: u16) -> redis::RedisResult<()> {
        let ttl = u64::try_from(HOME_TTL.as_millis()).unwrap_or(15_000);
        redis::cmd("SET")
            .arg(self.key(shard))
            .arg(&self.me)
            .arg("PX")
            .arg(ttl)
            .exec_async(&mut self.redis.clone())
            .await
    }

    /// Says that this dispatcher no longer holds its home `shard` (it is
    /// stopping): the standby that takes the shard over keeps it, instead
    /// of handing it back to nobody until the announcement lapses. Only
    /// this dispatcher's own announcement is removed.
    pub async fn withdraw(&self, shard: u16) -> redis::RedisResult<()> {
        redis::Script::new(
            r"if redis.call('GET', KEYS[1]) == ARGV[1]
              then return redis.call('DEL', KEYS[1]) else return 0 end",
        )
        .key(self.key(shard))
        .arg(&self.me)
        .invoke_async::<i64>(&mut self.redis.clone())
        .await
        .map(drop)
    }

    /// Whether another dispatcher, whose home `shard` is, is subscribed to it.
    pub async fn claimed_by_another(&self, shard: u16) -> redis::RedisResult<bool> {
        let home: Option<String> = redis::cmd("GET")
            .arg(self.key(shard))
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(home.is_some_and(|home| home != self.me))
    }
}

#[cfg(test)]
mod tests {
    use confab_common::testing::deployments;

    use super::*;

    /// Against the machine's Redis, and against the Redis Cluster named by
    /// `CONFAB_TEST_REDIS_CLUSTER` when it is set.
    #[tokio::test]
    async fn a_home_is_announced_seen_by_others_and_withdrawn_by_its_owner_only() {
        let prefix = format!("confab-test-homes-{}:", uuid::Uuid::new_v4().simple());
        let deployments = deployments(&prefix)
            .await
            .expect("every test Redis answers");
        for d in &deployments {
            let (home, standby) = (
                Homes::new(d.redis.clone(), prefix.clone(), "home"),
                Homes::new(d.redis.clone(), prefix.clone(), "standby"),
            );
            assert!(!standby.claimed_by_another(3).await.unwrap(), "{}", d.name);
            home.announce(3).await.unwrap();
            assert!(standby.claimed_by_another(3).await.unwrap(), "{}", d.name);
            assert!(!home.claimed_by_another(3).await.unwrap(), "{}", d.name);
            standby.withdraw(3).await.unwrap();
            assert!(standby.claimed_by_another(3).await.unwrap(), "{}", d.name);
            home.withdraw(3).await.unwrap();
            assert!(!standby.claimed_by_another(3).await.unwrap(), "{}", d.name);
            d.forget().await;
        }
    }
}
