//! The Confab dispatcher: consumes the `input` queue, resolves each message's
//! recipients, stores it in their inboxes, looks their presence up in Redis
//! and hands it to the nodes that hold them. See `docs/architecture.md`.

pub mod config;
pub mod consume;
pub mod ops;
pub mod route;

use std::time::Duration;

use anyhow::Context;
use confab_common::consul::{Agent, Service};
use confab_common::presence::Presence;
use confab_common::social::SocialCache;
use confab_common::topology::Topology;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use route::Router;

/// Connects to Postgres, Redis and RabbitMQ, serves `/health`, `/livez` and
/// `/metrics` on the health address, registers with Consul (if configured),
/// then routes until `shutdown`. A lost broker connection is re-established
/// with backoff. Stopping: leave Consul, finish the batch in hand, stop.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    confab_common::telemetry::prometheus();
    for counter in [
        "confab_dispatch_envelopes_total",
        "confab_dispatch_redeliveries_total",
        "confab_dispatch_retries_total",
        "confab_inbox_stored_total",
        "confab_deliveries_published_total",
    ] {
        metrics::counter!(counter).absolute(0);
    }
    let db = config.database.connect().await?;
    let redis = config.redis.connect().await?;
    let broker = config.amqp.broker("confab-dispatcher")?;
    let listener = tokio::net::TcpListener::bind(config.health_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.health_addr))?;
    let addr = listener.local_addr().context("listener has no address")?;
    let http_stop = CancellationToken::new();
    let probe = confab_common::health::Probe {
        db: db.clone(),
        redis: redis.clone(),
        amqp: broker.pool().clone(),
    };
    let server = axum::serve(listener, ops::router(probe))
        .with_graceful_shutdown(http_stop.clone().cancelled_owned());
    let http = tokio::spawn(async move { server.await });
    tracing::info!(%addr, "dispatcher health and metrics listening");
    let address = config
        .consul
        .consul_service_address
        .clone()
        .unwrap_or_else(|| addr.ip().to_string());
    let consul = Agent::from_config(
        &config.consul,
        Service::new(
            format!("confab-dispatcher-{address}-{}", addr.port()),
            "confab-dispatcher",
            &["confab"],
            address,
            addr.port(),
            "/health",
        ),
    )?;
    let consul_stop = CancellationToken::new();
    if let Some(agent) = consul.clone() {
        tokio::spawn(agent.keep_registered(consul_stop.clone()));
    }
    let leave_consul = async {
        consul_stop.cancel();
        if let Some(agent) = &consul
            && let Err(e) = agent.deregister().await
        {
            tracing::warn!(error = %e, "cannot deregister from Consul");
        }
    };
    let router = Router {
        presence: Presence::new(redis.clone(), config.redis.redis_key_prefix.clone()),
        social: SocialCache::new(redis, db.clone(), config.redis.redis_key_prefix.clone()),
        topology: Topology::new(config.amqp.amqp_prefix.clone()),
        db: db.clone(),
    };
    tracing::info!("dispatcher connected to Postgres and Redis");

    let mut delay = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        let connection = match broker.connection().await {
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
            &broker,
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
    leave_consul.await;
    http_stop.cancel();
    let _ = http.await;
    db.close().await.context("closing the Postgres pool")?;
    tracing::info!("dispatcher stopped");
    Ok(())
}
