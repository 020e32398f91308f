//! The Confab dispatcher: consumes the `input` queue, resolves each message's
//! recipients, appends it to its conversation's log, looks their presence up in Redis
//! and hands it to the nodes that hold them. See `docs/architecture.md`.
//!
//! The flow, one module a step: [`consumer`] (AMQP: `input` in, windows
//! out) → [`batch`] (one batch as a unit of work: decode, route, publish,
//! ack) → [`route`] (audiences, then the log's append
//! (`confab_common::log::append`), then presence) → [`plan`] (pure: which
//! node queue gets what). Beside it, the [`reaper`] of dead nodes' presence.

pub mod batch;
pub mod config;
pub mod consumer;
pub mod homes;
pub mod plan;
pub mod reaper;
pub mod route;

use anyhow::Context;
use confab_common::consul::{Membership, Service};
use confab_common::health::Probe;
use confab_common::metric;
use confab_common::presence::Presence;
use confab_common::social::SocialCache;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use route::Router;

use crate::consumer::InputConsumer;

/// Connects to Postgres, Redis and RabbitMQ, serves `/health`, `/livez` and
/// `/metrics` on `listener`, registers with Consul (if configured), then
/// routes until `shutdown`. Stopping: leave Consul, finish the batch in
/// hand, stop serving, close the pool.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    confab_common::telemetry::prometheus();
    metric::register_dispatcher();
    let (input, probe) = connect(&config).await?;
    let ops = Ops::serve(listener, probe, &config)?;
    let chores = start_chores(&input, &config, &shutdown);
    input.consume_loop(&shutdown).await;
    ops.stop().await;
    chores.close();
    chores.wait().await;
    input
        .router
        .db
        .close()
        .await
        .context("closing the Postgres pool")?;
    tracing::info!("dispatcher stopped");
    Ok(())
}

/// Starts the periodic chores (presence reaping, retention), which end
/// with `shutdown`.
fn start_chores(
    input: &InputConsumer,
    config: &Config,
    shutdown: &CancellationToken,
) -> tokio_util::task::TaskTracker {
    let chores = tokio_util::task::TaskTracker::new();
    let router = &input.router;
    let reaper = reaper::Reaper::new(
        router.presence.clone(),
        input.broker.clone(),
        router.topology.clone(),
    );
    chores.spawn(reaper.run_until_stopped(shutdown.clone()));
    if let Some(days) = config.retention_days {
        chores.spawn(confab_common::log::retention::retention_loop(
            router.db.clone(),
            days,
            shutdown.clone(),
        ));
    }
    chores
}

/// Connects (lazily: the dispatcher starts, unhealthy, while a dependency
/// is down) and builds the consumer and the health probe.
async fn connect(config: &Config) -> anyhow::Result<(InputConsumer, Probe)> {
    let db = config.database.connect().await?;
    let redis = config.redis.connect().await?;
    let prefix = &config.redis.redis_key_prefix;
    let broker = config.amqp.broker("confab-dispatcher")?;
    let probe = Probe {
        db: db.clone(),
        redis: redis.clone(),
        amqp: broker.clone(),
    };
    let redis_for_homes = redis.clone();
    let router = Router {
        presence: Presence::new(redis.clone(), prefix.clone()),
        social: SocialCache::new(redis.clone(), db.clone(), prefix.clone()),
        topology: config.amqp.topology(),
        db,
    };
    let input = InputConsumer {
        router,
        broker,
        prefetch: config.prefetch,
        batch: config.batch,
        home: config.home_shards.clone(),
        homes: homes::Homes::new(
            redis_for_homes,
            prefix.clone(),
            uuid::Uuid::new_v4().simple().to_string(),
        ),
        standby_after: std::time::Duration::from_millis(config.standby_after_ms),
    };
    Ok((input, probe))
}

/// The operator endpoints and the Consul registration.
struct Ops {
    http: JoinHandle<std::io::Result<()>>,
    http_stop: CancellationToken,
    consul: Membership,
}

impl Ops {
    fn serve(listener: TcpListener, probe: Probe, config: &Config) -> anyhow::Result<Self> {
        let addr = listener.local_addr().context("listener has no address")?;
        let http_stop = CancellationToken::new();
        let server = axum::serve(listener, confab_common::health::routes::<()>(probe))
            .with_graceful_shutdown(http_stop.clone().cancelled_owned());
        let http = tokio::spawn(async move { server.await });
        tracing::info!(%addr, "dispatcher health and metrics listening");
        let address = config.consul.consul_service_address.clone();
        let address = address.unwrap_or_else(|| addr.ip().to_string());
        let service = Service::new(
            format!("confab-dispatcher-{address}-{}", addr.port()),
            "confab-dispatcher",
            &["confab"],
            address,
            addr.port(),
            "/health",
        );
        Ok(Self {
            http,
            http_stop,
            consul: Membership::join(&config.consul, service)?,
        })
    }

    /// Leaves Consul, then stops serving.
    async fn stop(self) {
        self.consul.leave().await;
        self.http_stop.cancel();
        let _ = self.http.await;
    }
}
