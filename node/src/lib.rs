//! A Confab node: the REST API (accounts, profiles, friends, groups) and, on
//! the same port, the WebSocket endpoint clients keep open.
//!
//! The message path runs through three folders that import one way only:
//! [`ws`] (a connection: decode frames, route, write) uses [`send`] (client
//! id claim, authorization, publish to `input`) and [`delivery`] (the node's
//! queue consumer, the hub, acks, presence liveness), which both use
//! [`store`] (every statement on accounts, friends and groups; the REST
//! [`routes`] run none of their own).
//!
//! [`run`] takes its listener and its shutdown token as parameters so that
//! tests start a node on port 0 and stop it when they like.

pub mod auth;
pub mod config;
pub mod delivery;
pub mod error;
pub mod extract;
mod lifecycle;
pub mod password;
pub mod routes;
pub mod send;
pub mod state;
pub mod store;
pub mod ws;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use state::AppState;

use crate::lifecycle::Node;

/// Connects to the dependencies and serves `listener` until `shutdown` is
/// cancelled. Then, in order: leave Consul, stop accepting, close every
/// socket with 1001, stop consuming, leave presence, write the last acks —
/// all within the configured grace.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let node = Node::start(&config).await?;
    node.wait_for_broker().await;
    let serving = node.serve(listener, &config)?;
    shutdown.cancelled().await;
    node.stop(serving, config.shutdown_grace()).await;
    Ok(())
}
