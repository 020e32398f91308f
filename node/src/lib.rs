//! A Confab node: the REST API (accounts, profiles, friends, groups) and, on
//! the same port, the WebSocket endpoint clients keep open.
//!
//! [`run`] takes its listener and its shutdown token as parameters so that
//! tests start a node on port 0 and stop it when they like.

pub mod config;
pub mod error;
pub mod extract;
pub mod password;
pub mod routes;
pub mod state;

use std::sync::Arc;

use anyhow::Context;
use confab_common::auth::JwtKeys;
use confab_common::presence::Presence;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use state::AppState;

/// Connects to the dependencies and serves `listener` until `shutdown` is
/// cancelled, then drains in-flight requests for at most the configured grace.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let state = connect(&config).await?;
    let (app, _openapi) = routes::router(state, &config);
    let addr = listener.local_addr().context("listener has no address")?;
    tracing::info!(%addr, node_id = config.node_id, "node listening");

    let drained = shutdown.clone();
    let server =
        axum::serve(listener, app).with_graceful_shutdown(async move { drained.cancelled().await });
    let grace = config.shutdown_grace();
    tokio::select! {
        result = server => result.context("HTTP server failed")?,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "graceful shutdown took too long; exiting anyway");
        }
    }
    tracing::info!("node stopped");
    Ok(())
}

/// Opens the pools the handlers share.
pub async fn connect(config: &Config) -> anyhow::Result<AppState> {
    let db = config.database.connect().await?;
    let redis = config.redis.connect().await?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(AppState {
        db,
        presence: Presence::new(redis, config.redis.redis_key_prefix.clone()),
        jwt: Arc::new(JwtKeys::new(
            &config.jwt.validated_secret()?,
            config.jwt.ttl()?,
        )),
        passwords: password::Passwords::new(cores)?,
        max_group_members: config.max_group_members,
    })
}
