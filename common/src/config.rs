//! Configuration pieces both binaries flatten into their own config struct.
//! Each field is read from a flag or an environment variable (the README lists
//! them all); secrets are [`SecretString`]s so they never reach a log line.

use std::time::Duration;

use anyhow::{Context, bail};
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use secrecy::{ExposeSecret, SecretString};

use crate::redis::Redis;

fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

/// Where Postgres is and how many connections to keep.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Postgres URL; it may carry a password, so it is kept secret.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/confab",
        value_parser = secret,
        hide_default_value = false
    )]
    pub database_url: SecretString,

    /// Upper bound of the connection pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
}

impl DatabaseConfig {
    /// A pool that connects lazily (a service starts, and reports itself
    /// unhealthy, while Postgres is down) and fails fast when Postgres is
    /// down, so that requests answer 503 instead of hanging.
    pub async fn connect(&self) -> anyhow::Result<DatabaseConnection> {
        let mut options = ConnectOptions::new(self.database_url.expose_secret().to_owned());
        options
            .max_connections(self.database_max_connections)
            .min_connections(0)
            .connect_lazy(true)
            .connect_timeout(Duration::from_secs(3))
            .acquire_timeout(Duration::from_secs(3))
            // sqlx pings every connection it hands out by default: one more
            // round trip before each statement, on the message path too (the
            // dispatcher's append, the ack writer). A connection that was
            // used within the last second is handed out as it is (under
            // load, every one); one idle longer is pinged first, so after a
            // Postgres restart or a proxy's idle cut a quiet service still
            // finds its dead connections before a request does. A hot
            // connection that died fails its one statement, which the
            // dispatcher and the ack writer retry.
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            .sqlx_logging(false);
        Database::connect(options)
            .await
            .context("cannot connect to Postgres")
    }
}

/// Where Redis is, and the prefix of every key Confab writes there.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisConfig {
    /// Redis URL (a single Redis; unused when `REDIS_CLUSTER_NODES` is set).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = secret)]
    pub redis_url: SecretString,

    /// Seed nodes of a Redis Cluster, as comma-separated `redis://` URLs
    /// (any few of its nodes: the rest are found from them). Set, Confab
    /// uses the cluster instead of `REDIS_URL`. URLs may carry a password.
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_delimiter = ',', value_parser = secret)]
    pub redis_cluster_nodes: Vec<SecretString>,

    /// Prepended to every key, so that several deployments (or test runs) can
    /// share one Redis. No `{` or `}`: the first `{…}` of a key is its hash
    /// tag, and Confab's own tags must be it (`keys`).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "confab:")]
    pub redis_key_prefix: String,
}

/// The timeouts of every Redis connection, single or cluster: a Redis that
/// is down fails a request within seconds (answered 503 or retried by its
/// caller) instead of holding it.
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

impl RedisConfig {
    /// The cluster's seed URLs; empty for a single Redis (blank entries,
    /// such as an empty `REDIS_CLUSTER_NODES`, are ignored).
    fn cluster_nodes(&self) -> Vec<&str> {
        self.redis_cluster_nodes
            .iter()
            .map(|url| url.expose_secret().trim())
            .filter(|url| !url.is_empty())
            .collect()
    }

    /// Refuses a prefix with a hash tag in it, and seed URLs that are not
    /// Redis URLs.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.redis_key_prefix.contains(['{', '}']) {
            bail!(
                "REDIS_KEY_PREFIX must not contain `{{` or `}}` (it would be every key's hash tag)"
            );
        }
        self.connection_infos()?;
        Ok(())
    }

    /// A connection that connects on first use and reconnects by itself
    /// after Redis restarts (or, in a cluster, after a failover or a slot
    /// move: it follows the cluster's redirections).
    pub async fn connect(&self) -> anyhow::Result<Redis> {
        if self.cluster_nodes().is_empty() {
            let client = redis::Client::open(self.url_info()?.set_tcp_settings(tcp_settings()))
                .context("REDIS_URL is not a valid Redis URL")?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
                .set_response_timeout(Some(REDIS_RESPONSE_TIMEOUT))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(2));
            let manager = ConnectionManager::new_lazy_with_config(client, config)
                .context("cannot set up the Redis connection")?;
            return Ok(Redis::Single(manager));
        }
        // Retries (redirections, a failover) fit in the response timeout,
        // which bounds each request as a whole.
        let cluster = ClusterClient::builder(self.connection_infos()?)
            .tcp_settings(tcp_settings())
            .connection_timeout(REDIS_CONNECT_TIMEOUT)
            .response_timeout(REDIS_RESPONSE_TIMEOUT)
            .retries(3)
            .min_retry_wait(50)
            .max_retry_wait(1_000)
            .build()
            .context("REDIS_CLUSTER_NODES: cannot set up the cluster client")?;
        // The per-connection settings replace the builder's: both timeouts
        // again, or the response timeout would be lost.
        let config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(REDIS_CONNECT_TIMEOUT)
            .set_response_timeout(REDIS_RESPONSE_TIMEOUT);
        Ok(crate::redis::ClusterLink::new(cluster, config).into())
    }

    /// Clients for connections of their own (subscriptions): the one Redis,
    /// or each seed node of the cluster, in order. A cluster passes every
    /// PUBLISH on to all its nodes, so a subscriber may listen on any one
    /// and move to the next when that one fails.
    pub fn subscription_clients(&self) -> anyhow::Result<Vec<redis::Client>> {
        self.connection_infos()?
            .into_iter()
            .map(|info| {
                redis::Client::open(info.set_tcp_settings(tcp_settings()))
                    .context("not a valid Redis URL")
            })
            .collect()
    }

    fn url_info(&self) -> anyhow::Result<redis::ConnectionInfo> {
        self.redis_url
            .expose_secret()
            .into_connection_info()
            .context("REDIS_URL is not a valid Redis URL")
    }

    /// Where to connect: the cluster's seeds if there are any, else
    /// `REDIS_URL`.
    fn connection_infos(&self) -> anyhow::Result<Vec<redis::ConnectionInfo>> {
        let nodes = self.cluster_nodes();
        if nodes.is_empty() {
            return Ok(vec![self.url_info()?]);
        }
        nodes
            .into_iter()
            .map(|url| {
                url.into_connection_info()
                    .context("REDIS_CLUSTER_NODES holds a URL that is not a valid Redis URL")
            })
            .collect()
    }
}

/// Nagle off: many tasks share a connection, and a small write behind an
/// unacknowledged one would wait for its ACK.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Where RabbitMQ is, and the prefix of every queue and exchange Confab declares.
#[derive(Debug, Clone, clap::Args)]
pub struct AmqpConfig {
    /// AMQP URL (user, password and vhost included).
    #[arg(long, env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f", value_parser = secret)]
    pub amqp_url: SecretString,

    /// Prepended to every queue and exchange name, so that test runs can share
    /// one broker.
    #[arg(long, env = "AMQP_PREFIX", default_value = "confab.")]
    pub amqp_prefix: String,

    /// Longest wait for RabbitMQ, in milliseconds: connecting (TCP and the
    /// AMQP handshake, which a booting broker may leave unanswered) and each
    /// operation after it (opening a channel, declaring, subscribing, acking,
    /// writing a publish). Past it the attempt counts as failed and is
    /// retried on a new connection.
    #[arg(long, env = "AMQP_TIMEOUT_MS", default_value_t = 5_000)]
    pub amqp_timeout_ms: u64,

    /// How many shards `input` has (`input`, `input.1`, …): as many as
    /// dispatchers are to be active at once. A deploy-time choice: every
    /// node and dispatcher must agree, and changing it means draining
    /// `input` first (docs/architecture.md, "Input shards").
    #[arg(long, env = "INPUT_SHARDS", default_value_t = 1)]
    pub input_shards: u16,
}

impl AmqpConfig {
    /// Pooled connections named `name` in the broker's management UI.
    /// Connections are checked out once and kept (a long-lived channel each),
    /// not per message; the pool replaces a connection the broker dropped.
    pub fn broker(&self, name: &str) -> anyhow::Result<crate::broker::Broker> {
        crate::broker::Broker::new(
            self.amqp_url.expose_secret(),
            name,
            // A connection per input shard (the dispatcher consumes each on
            // its own), and some to spare.
            usize::from(self.input_shards) + 4,
            Duration::from_millis(self.amqp_timeout_ms),
        )
        .context("cannot create the AMQP connection pool")
    }

    /// The queue names and shard count.
    pub fn topology(&self) -> crate::topology::Topology {
        crate::topology::Topology::new(self.amqp_prefix.clone(), self.input_shards)
    }

    /// Rejects a zero timeout or shard count.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.amqp_timeout_ms == 0 {
            bail!("AMQP_TIMEOUT_MS must be positive");
        }
        if self.input_shards == 0 || self.input_shards > 64 {
            bail!("INPUT_SHARDS must be between 1 and 64");
        }
        Ok(())
    }
}

/// Where the local Consul agent is, if there is one.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsulConfig {
    /// The agent's HTTP API (e.g. `http://127.0.0.1:8500`). Unset: nothing
    /// is registered.
    #[arg(long, env = "CONSUL_HTTP_ADDR")]
    pub consul_http_addr: Option<url::Url>,

    /// ACL token for the agent API, if the agent requires one.
    #[arg(long, env = "CONSUL_HTTP_TOKEN", value_parser = secret)]
    pub consul_http_token: Option<SecretString>,

    /// The address Consul advertises for this process (what Nginx and the
    /// health check connect to); defaults to the listener's IP.
    #[arg(long, env = "CONSUL_SERVICE_ADDRESS")]
    pub consul_service_address: Option<String>,

    /// How often to check that the agent still has the registration.
    #[arg(long, env = "CONSUL_RECHECK_SECS", default_value_t = 10)]
    pub consul_recheck_secs: u64,
}

/// The smallest HS256 secret a node accepts outside development.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The secret every node of a cluster must share; publicly known, so only for
/// `--dev`.
const DEV_JWT_SECRET: &str = "confab-development-secret-do-not-use-in-production";

/// How access tokens are signed and how long they live.
#[derive(Debug, Clone, clap::Args)]
pub struct JwtConfig {
    /// HS256 secret, at least 32 bytes, shared by every node.
    #[arg(long, env = "JWT_SECRET", value_parser = secret)]
    pub jwt_secret: Option<SecretString>,

    /// Lifetime of an issued token, in seconds.
    #[arg(long, env = "JWT_TTL_SECS", default_value_t = 86_400)]
    pub jwt_ttl_secs: u64,

    /// Development only: accept a missing or short JWT secret (a missing one
    /// becomes a fixed, publicly known secret).
    #[arg(long = "dev", env = "CONFAB_DEV", default_value_t = false)]
    pub dev: bool,
}

impl JwtConfig {
    /// The secret to sign with, or why the node must not start.
    pub fn validated_secret(&self) -> anyhow::Result<SecretString> {
        match &self.jwt_secret {
            Some(s) if s.expose_secret().len() >= MIN_JWT_SECRET_BYTES => Ok(s.clone()),
            Some(s) if self.dev => {
                tracing::warn!(
                    "JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes (allowed by --dev)"
                );
                Ok(s.clone())
            }
            None if self.dev => {
                tracing::warn!(
                    "no JWT_SECRET: using the public development secret (allowed by --dev)"
                );
                Ok(SecretString::from(DEV_JWT_SECRET))
            }
            Some(_) => bail!(
                "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (or start with --dev)"
            ),
            None => bail!("JWT_SECRET is not set (or start with --dev for development)"),
        }
    }

    /// Token lifetime.
    pub fn ttl(&self) -> anyhow::Result<Duration> {
        if self.jwt_ttl_secs == 0 {
            bail!("JWT_TTL_SECS must be positive");
        }
        Ok(Duration::from_secs(self.jwt_ttl_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(secret: Option<&str>, dev: bool) -> JwtConfig {
        JwtConfig {
            jwt_secret: secret.map(SecretString::from),
            jwt_ttl_secs: 60,
            dev,
        }
    }

    #[test]
    fn a_missing_or_short_secret_is_refused_unless_dev() {
        assert!(jwt(None, false).validated_secret().is_err());
        assert!(jwt(Some("short"), false).validated_secret().is_err());
        assert!(jwt(Some(&"x".repeat(32)), false).validated_secret().is_ok());
        assert!(jwt(None, true).validated_secret().is_ok());
        assert!(jwt(Some("short"), true).validated_secret().is_ok());
    }
}
