//! The Redis deployments that the Redis tests of every crate run against:
//! this machine's Redis always (`TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), and a Redis Cluster too when
//! [`CLUSTER_VAR`] names its seed nodes (`scripts/redis-cluster.sh seeds`).
//! A cluster that is named but cannot be reached fails the tests rather
//! than leaving them to pass on the single Redis alone. Public (not
//! `cfg(test)`) so that the node's and the dispatcher's tests use it too.

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::config::RedisConfig;
use crate::redis::{Batch, Redis};

/// Comma-separated `redis://` URLs of a test cluster's seed nodes.
pub const CLUSTER_VAR: &str = "CONFAB_TEST_REDIS_CLUSTER";

/// One deployment, connected, under a key prefix of its own.
#[derive(Debug)]
pub struct Deployment {
    /// `single` or `cluster`, for assertion messages.
    pub name: &'static str,
    pub config: RedisConfig,
    pub redis: Redis,
}

/// The single Redis's URL for tests.
pub fn single_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Every deployment to test against, each connected and answering, with
/// keys under `prefix` (give each test its own, starting `confab-test-`,
/// which is what `scripts/test.sh` sweeps). Fails if [`CLUSTER_VAR`] is set
/// and the cluster does not answer.
pub async fn deployments(prefix: &str) -> anyhow::Result<Vec<Deployment>> {
    let single = RedisConfig {
        redis_url: SecretString::from(single_url()),
        redis_cluster_nodes: Vec::new(),
        redis_key_prefix: prefix.to_owned(),
    };
    let mut configs = vec![("single", single)];
    if let Ok(seeds) = std::env::var(CLUSTER_VAR) {
        let nodes: Vec<SecretString> = seeds
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(SecretString::from)
            .collect();
        if nodes.is_empty() {
            bail!("{CLUSTER_VAR} is set but names no node");
        }
        let cluster = RedisConfig {
            redis_url: SecretString::from(String::new()),
            redis_cluster_nodes: nodes,
            redis_key_prefix: prefix.to_owned(),
        };
        configs.push(("cluster", cluster));
    }
    let mut deployments = Vec::with_capacity(configs.len());
    for (name, config) in configs {
        config.validate()?;
        let redis = config.connect().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut redis.clone())
            .await
            .with_context(|| {
                format!("the {name} test Redis does not answer ({CLUSTER_VAR}, TEST_REDIS_URL)")
            })?;
        deployments.push(Deployment {
            name,
            config,
            redis,
        });
    }
    Ok(deployments)
}

impl Deployment {
    /// Deletes every key under this deployment's prefix (best effort: a
    /// test's leftovers, whatever it asserted).
    pub async fn forget(&self) {
        let pattern = format!("{}*", self.config.redis_key_prefix);
        // In a cluster KEYS asks every master and joins their answers.
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut self.redis.clone())
            .await
            .unwrap_or_default();
        let mut batch = Batch::new();
        for key in &keys {
            batch.add(key, redis::Cmd::del(key));
        }
        let _: Result<(), _> = self.redis.run(batch).await;
    }
}
