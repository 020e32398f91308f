//! The Confab dispatcher: consumes the `input` queue, resolves each message's
//! recipients, stores it in their inboxes, looks their presence up in Redis
//! and hands it to the nodes that hold them. See `docs/architecture.md`.

pub mod config;
pub mod consume;
pub mod route;

use std::time::Duration;

use anyhow::Context;
use confab_common::presence::Presence;
use confab_common::social::SocialCache;
use confab_common::topology::Topology;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use route::Router;

/// Connects to Postgres, Redis and RabbitMQ, then routes until `shutdown`.
/// A lost broker connection is re-established with backoff.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    let db = config.database.connect().await?;
    let redis = config.redis.connect().await?;
    let amqp = config.amqp.pool("confab-dispatcher")?;
    let router = Router {
        presence: Presence::new(redis.clone(), config.redis.redis_key_prefix.clone()),
        social: SocialCache::new(redis, db.clone(), config.redis.redis_key_prefix.clone()),
        topology: Topology::new(config.amqp.amqp_prefix.clone()),
        db: db.clone(),
    };
    tracing::info!("dispatcher connected to Postgres and Redis");

    let mut delay = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        let connection = match amqp.get().await {
            Ok(connection) => connection,
            Err(e) => {
                tracing::warn!(error = %e, ?delay, "cannot reach RabbitMQ; retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {},
                    () = shutdown.cancelled() => break,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        delay = Duration::from_millis(200);
        match consume::consume_loop(
            &router,
            &connection,
            config.prefetch,
            config.batch,
            &shutdown,
        )
        .await
        {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "consuming stopped; reconnecting");
                // The connection may be dead; let the pool replace it.
                let _ = deadpool_lapin::Object::take(connection);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    db.close().await.context("closing the Postgres pool")?;
    tracing::info!("dispatcher stopped");
    Ok(())
}
