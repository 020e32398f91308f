//! The node's configuration: one struct, from flags or environment variables,
//! validated before anything starts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use confab_common::NodeId;
use confab_common::config::{DatabaseConfig, JwtConfig, RedisConfig};

/// Everything a node needs to know at start. The README lists every variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "confab-node",
    version,
    about = "A Confab node: REST API and WebSocket endpoint"
)]
pub struct Config {
    /// Address the HTTP/WebSocket listener binds to.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,

    /// This node's id, unique in the cluster (0-1023): it is part of every
    /// message id the node mints and names its private queue.
    #[arg(long, env = "NODE_ID", default_value_t = 1)]
    pub node_id: u16,

    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub redis: RedisConfig,

    #[command(flatten)]
    pub jwt: JwtConfig,

    /// Largest REST request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Most members a group may have.
    #[arg(long, env = "MAX_GROUP_MEMBERS", default_value_t = 2_000)]
    pub max_group_members: u64,

    /// How long a graceful shutdown may take before the node exits anyway.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

impl Config {
    /// Refuses settings the node cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.node_id > NodeId::MAX {
            bail!("NODE_ID must be at most {}", NodeId::MAX);
        }
        if self.max_body_bytes < 1024 {
            bail!("MAX_BODY_BYTES must be at least 1024");
        }
        if self.max_group_members < 2 {
            bail!("MAX_GROUP_MEMBERS must be at least 2");
        }
        self.jwt.validated_secret()?;
        self.jwt.ttl()?;
        Ok(())
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.node_id)
    }

    /// The bound on a graceful shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
