//! The dispatcher's configuration: one struct, from flags or environment variables.

use anyhow::bail;
use confab_common::config::{AmqpConfig, DatabaseConfig, RedisConfig};

/// Everything the dispatcher needs to know at start. The README lists every variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "confab-dispatcher",
    version,
    about = "Routes messages from `input` to nodes and the inbox"
)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub redis: RedisConfig,

    #[command(flatten)]
    pub amqp: AmqpConfig,

    /// Most unacked envelopes the broker hands the dispatcher at once.
    #[arg(long, env = "DISPATCH_PREFETCH", default_value_t = 1024)]
    pub prefetch: u16,

    /// Most envelopes routed in one batch (one inbox insert, one presence
    /// round trip). Batches form only from what is already waiting: a lone
    /// message is routed at once.
    #[arg(long, env = "DISPATCH_BATCH", default_value_t = 256)]
    pub batch: usize,
}

impl Config {
    /// Refuses settings the dispatcher cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.prefetch == 0 || self.batch == 0 {
            bail!("DISPATCH_PREFETCH and DISPATCH_BATCH must be positive");
        }
        if self.batch > usize::from(self.prefetch) {
            bail!("DISPATCH_BATCH cannot exceed DISPATCH_PREFETCH");
        }
        Ok(())
    }
}
