//! The node's configuration: one struct, from flags or environment variables,
//! validated before anything starts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use confab_common::NodeId;
use confab_common::config::{AmqpConfig, ConsulConfig, DatabaseConfig, JwtConfig, RedisConfig};

/// Everything a node needs to know at start. The README lists every variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "confab-node",
    version,
    about = "A Confab node: REST API and WebSocket endpoint",
    // A flag given twice takes its last value, like a later env assignment.
    args_override_self = true
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
    pub amqp: AmqpConfig,

    #[command(flatten)]
    pub jwt: JwtConfig,

    #[command(flatten)]
    pub consul: ConsulConfig,

    #[command(flatten)]
    pub ws: WsConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    /// Sign-ups, log-ins and password changes that may wait for the
    /// password hasher (one hash per core at a time); past it they are
    /// answered 503 `busy` with `Retry-After` at once.
    #[arg(long, env = "PASSWORD_QUEUE", default_value_t = 64)]
    pub password_queue: usize,

    /// Largest REST request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// The web client's files, served at `/` (relative to the working
    /// directory). A missing directory only means no page is served.
    #[arg(long, env = "WEB_ROOT", default_value = "web/public")]
    pub web_root: std::path::PathBuf,

    /// The JavaScript SDK's modules (`clients/js/src`), served at `/sdk/`
    /// for the web client (relative to the working directory).
    #[arg(long, env = "SDK_ROOT", default_value = "clients/js/src")]
    pub sdk_root: std::path::PathBuf,

    /// Most members a group may have.
    #[arg(long, env = "MAX_GROUP_MEMBERS", default_value_t = 2_000)]
    pub max_group_members: u64,

    /// How long a graceful shutdown may take before the node exits anyway.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

/// WebSocket limits and timings.
#[derive(Debug, Clone, clap::Args)]
pub struct WsConfig {
    /// Largest WebSocket frame (and message) accepted, in bytes; a larger one
    /// closes the connection with 1009.
    #[arg(long, env = "WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Longest message body, in characters; longer ones get `too_large`.
    #[arg(long, env = "WS_MAX_BODY_CHARS", default_value_t = 4_000)]
    pub max_body_chars: usize,

    /// How often the server pings; a client silent for three intervals is
    /// disconnected.
    #[arg(long, env = "WS_PING_SECS", default_value_t = 20)]
    pub ping_secs: u64,

    /// Frames queued for one connection before it counts as a slow consumer
    /// and is closed (its messages stay in their logs).
    #[arg(long, env = "WS_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Messages read from the logs per query when replaying.
    #[arg(long, env = "WS_REPLAY_PAGE", default_value_t = 1000)]
    pub replay_page: u64,

    /// Invalid frames tolerated on one connection before it is closed (1008).
    #[arg(long, env = "WS_MAX_INVALID_FRAMES", default_value_t = 100)]
    pub max_invalid_frames: u32,

    /// Sends per second one user may make on a node, on average; beyond
    /// that (and the burst) the node stops reading the connection until the
    /// user is back under it.
    #[arg(long, env = "WS_SEND_RATE", default_value_t = 50)]
    pub send_rate: u32,

    /// Sends one user may make at once above the average rate.
    #[arg(long, env = "WS_SEND_BURST", default_value_t = 200)]
    pub send_burst: u32,

    /// A connection held back by the send rate this long without a break
    /// is closed (1008).
    #[arg(long, env = "WS_THROTTLED_CLOSE_SECS", default_value_t = 60)]
    pub throttled_close_secs: u64,

    /// Open connections one user may have across the cluster; one more is
    /// refused with 429 `too_many_connections` before the upgrade.
    #[arg(long, env = "WS_MAX_CONNECTIONS_PER_USER", default_value_t = 16)]
    pub max_connections_per_user: usize,

    /// Devices remembered per user (each with its own delivery position);
    /// connecting with one more forgets the one seen longest ago.
    #[arg(long, env = "DEVICES_PER_USER", default_value_t = 20)]
    pub devices_per_user: u64,

    /// How long a `send` may wait for the broker's confirm before it is
    /// answered `unavailable`.
    #[arg(long, env = "PUBLISH_TIMEOUT_MS", default_value_t = 10_000)]
    pub publish_timeout_ms: u64,
}

/// Request limits (WebSocket sends are limited by [`WsConfig`]).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitsConfig {
    /// REST requests per second one user may make on a node, on average;
    /// beyond that (and the burst) 429 `rate_limited` with `Retry-After`.
    #[arg(long, env = "REST_RATE_PER_USER", default_value_t = 20)]
    pub rest_rate: u32,

    /// REST requests one user may make at once above the average rate.
    #[arg(long, env = "REST_BURST_PER_USER", default_value_t = 60)]
    pub rest_burst: u32,

    /// Sign-ups per minute from one client address, across the cluster.
    #[arg(long, env = "REGISTER_PER_ADDRESS", default_value_t = 60)]
    pub register_per_address: u32,

    /// Log-ins per minute from one client address, across the cluster.
    #[arg(long, env = "LOGIN_PER_ADDRESS", default_value_t = 300)]
    pub login_per_address: u32,

    /// Failed log-ins of one account before each next attempt must wait
    /// (1 s, doubling up to 15 min; 429 `login_delayed` meanwhile).
    #[arg(long, env = "LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,

    /// Peers whose `X-Real-IP` header names the client (the gateway), as
    /// comma-separated addresses or CIDR blocks.
    #[arg(
        long,
        env = "TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The limits a session reads, resolved from [`WsConfig`].
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub max_frame_bytes: usize,
    pub max_body_chars: usize,
    pub ping_interval: Duration,
    pub replay_page: u64,
    pub max_invalid_frames: u32,
    /// How long a connection may be held back by the send rate without a
    /// break before it is closed.
    pub throttled_close: Duration,
    pub max_connections_per_user: usize,
    pub devices_per_user: u64,
}

impl From<&WsConfig> for WsLimits {
    fn from(ws: &WsConfig) -> Self {
        Self {
            max_frame_bytes: ws.max_frame_bytes,
            max_body_chars: ws.max_body_chars,
            ping_interval: Duration::from_secs(ws.ping_secs),
            replay_page: ws.replay_page,
            max_invalid_frames: ws.max_invalid_frames,
            throttled_close: Duration::from_secs(ws.throttled_close_secs),
            max_connections_per_user: ws.max_connections_per_user,
            devices_per_user: ws.devices_per_user,
        }
    }
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
        if self.ws.max_frame_bytes < 1024 || self.ws.max_body_chars == 0 || self.ws.ping_secs == 0 {
            bail!(
                "WS_MAX_FRAME_BYTES must be at least 1024; WS_MAX_BODY_CHARS and WS_PING_SECS positive"
            );
        }
        if self.ws.send_rate == 0
            || self.ws.send_burst == 0
            || self.ws.throttled_close_secs == 0
            || self.limits.rest_rate == 0
            || self.limits.rest_burst == 0
            || self.ws.max_connections_per_user == 0
            || self.ws.devices_per_user == 0
        {
            bail!(
                "WS_SEND_RATE, WS_SEND_BURST, WS_THROTTLED_CLOSE_SECS, REST_RATE_PER_USER, REST_BURST_PER_USER, WS_MAX_CONNECTIONS_PER_USER and DEVICES_PER_USER must be positive"
            );
        }
        if self.ws.outbound_queue == 0
            || self.ws.replay_page == 0
            || self.ws.publish_timeout_ms == 0
        {
            bail!("WS_OUTBOUND_QUEUE, WS_REPLAY_PAGE and PUBLISH_TIMEOUT_MS must be positive");
        }
        self.amqp.validate()?;
        self.redis.validate()?;
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
