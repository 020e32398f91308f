//! The Confab dispatcher: consumes the `input` queue, resolves recipients,
//! looks their presence up in Redis and routes each message to the nodes that
//! hold them, keeping it in the Postgres inbox until the recipient acks.
//!
//! For now it connects to its three dependencies and waits to be stopped; the
//! routing loop arrives with the real-time path.

pub mod config;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Connects to Postgres, Redis and RabbitMQ, then runs until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = config.database.connect().await?;
    let _redis = config.redis.connect().await?;
    let amqp = config.amqp.pool("confab-dispatcher")?;
    let connection = amqp.get().await.context("cannot connect to RabbitMQ")?;
    tracing::info!("dispatcher connected to Postgres, Redis and RabbitMQ");

    shutdown.cancelled().await;

    connection
        .close(200, "dispatcher shutting down".into())
        .await
        .context("closing the AMQP connection")?;
    db.close().await.context("closing the Postgres pool")?;
    tracing::info!("dispatcher stopped");
    Ok(())
}
