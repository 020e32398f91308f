//! The dispatcher's configuration: one struct, from flags or environment variables.

use anyhow::bail;
use std::net::SocketAddr;

use confab_common::config::{AmqpConfig, ConsulConfig, DatabaseConfig, RedisConfig};

/// Everything the dispatcher needs to know at start. The README lists every variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "confab-dispatcher",
    version,
    about = "Appends messages from `input` to conversation logs and routes them to nodes",
    // A flag given twice takes its last value, like a later env assignment.
    args_override_self = true
)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub redis: RedisConfig,

    #[command(flatten)]
    pub amqp: AmqpConfig,

    #[command(flatten)]
    pub consul: ConsulConfig,

    /// Where `/health`, `/livez` and `/metrics` are served.
    #[arg(long, env = "HEALTH_ADDR", default_value = "127.0.0.1:9100")]
    pub health_addr: SocketAddr,

    /// Most unacked envelopes the broker hands the dispatcher at once.
    #[arg(long, env = "DISPATCH_PREFETCH", default_value_t = 1024)]
    pub prefetch: u16,

    /// Most envelopes routed in one batch (one log append, one presence
    /// round trip). Batches form only from what is already waiting: a lone
    /// message is routed at once.
    #[arg(long, env = "DISPATCH_BATCH", default_value_t = 256)]
    pub batch: usize,

    /// The input shards this dispatcher takes at once (e.g. `0,1`); it
    /// stands by for the others, subscribing to them after
    /// `DISPATCHER_STANDBY_AFTER_MS`, so that dispatchers started together
    /// split the shards and each takes over a dead one's. Unset: all shards
    /// at once (the first dispatcher to start is active on all of them).
    #[arg(
        long = "dispatcher-shards",
        env = "DISPATCHER_SHARDS",
        value_delimiter = ','
    )]
    pub home_shards: Option<Vec<u16>>,

    /// How long a dispatcher waits before standing by for shards that are
    /// not its own (`DISPATCHER_SHARDS`), in milliseconds.
    #[arg(
        long = "dispatcher-standby-after-ms",
        env = "DISPATCHER_STANDBY_AFTER_MS",
        default_value_t = 3_000
    )]
    pub standby_after_ms: u64,

    /// Days a message is kept; older ones leave the logs (checked every 10
    /// minutes). Unset: messages are kept.
    #[arg(long, env = "MESSAGE_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
}

impl Config {
    /// Refuses settings the dispatcher cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.prefetch == 0 || self.batch == 0 {
            bail!("DISPATCH_PREFETCH and DISPATCH_BATCH must be positive");
        }
        if self.retention_days == Some(0) {
            bail!("MESSAGE_RETENTION_DAYS must be at least 1 (or unset: keep)");
        }
        if self.batch > usize::from(self.prefetch) {
            bail!("DISPATCH_BATCH cannot exceed DISPATCH_PREFETCH");
        }
        if let Some(home) = &self.home_shards
            && home.iter().any(|&s| s >= self.amqp.input_shards)
        {
            bail!("DISPATCHER_SHARDS names a shard past INPUT_SHARDS");
        }
        self.redis.validate()?;
        self.amqp.validate()
    }
}
