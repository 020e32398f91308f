//! The dispatcher's configuration: one struct, from flags or environment variables.

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
}
