//! A Confab node: the REST API (accounts, profiles, friends, groups) and, on
//! the same port, the WebSocket endpoint clients keep open.
//!
//! [`run`] takes its listener and its shutdown token as parameters so that
//! tests start a node on port 0 and stop it when they like.

pub mod config;
pub mod error;
pub mod extract;
pub mod messaging;
pub mod password;
pub mod routes;
pub mod state;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use confab_common::MessageIdGenerator;
use confab_common::auth::JwtKeys;
use confab_common::consul::{Agent, Service};
use confab_common::presence::Presence;
use confab_common::social::SocialCache;
use confab_common::topology::Topology;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use state::AppState;

use crate::messaging::{acks, deliveries, liveness};
use crate::ws::hub::Hub;

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
    let node = config.node_id();
    let redis = config.redis.connect().await?;
    let db = config.database.connect().await?;
    let broker = config.amqp.broker(&format!("confab-node-{}", node.0))?;
    let topology = Topology::new(config.amqp.amqp_prefix.clone());
    let prefix = config.redis.redis_key_prefix.clone();
    confab_common::telemetry::prometheus();
    // Series exist (at zero) from the start, so a scrape before any traffic
    // already shows them.
    metrics::gauge!("confab_ws_connections").set(0.0);
    for counter in [
        "confab_messages_accepted_total",
        "confab_messages_delivered_total",
        "confab_messages_replayed_total",
        "confab_acks_total",
        "confab_slow_consumer_closes_total",
    ] {
        metrics::counter!(counter).absolute(0);
    }
    let presence = Presence::new(redis.clone(), prefix.clone());
    let incarnation = uuid::Uuid::new_v4().as_u64_pair().0;
    let hub = Arc::new(Hub::new(node, incarnation, config.ws.outbound_queue));
    let publisher = Arc::new(messaging::publisher::Publisher::new(
        broker.clone(),
        topology.clone(),
        Duration::from_millis(config.ws.publish_timeout_ms),
    ));
    let (ack_sender, ack_writer) = acks::writer(db.clone());
    // Sessions are closed (1001) by their own token, after the node has left
    // Consul and stopped accepting, and before its background work stops.
    let sessions_stop = CancellationToken::new();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let state = AppState {
        db: db.clone(),
        presence: presence.clone(),
        jwt: Arc::new(JwtKeys::new(
            &config.jwt.validated_secret()?,
            config.jwt.ttl()?,
        )),
        passwords: password::Passwords::new(cores)?,
        max_group_members: config.max_group_members,
        social: SocialCache::new(redis.clone(), db.clone(), prefix.clone()),
        hub: hub.clone(),
        publisher: publisher.clone(),
        dedup: messaging::dedup::Dedup::new(redis.clone(), prefix),
        acks: ack_sender,
        ids: Arc::new(MessageIdGenerator::new(node)),
        ws: (&config.ws).into(),
        shutdown: sessions_stop.clone(),
        sessions: TaskTracker::new(),
        probe: confab_common::health::Probe {
            db: db.clone(),
            redis: redis.clone(),
            amqp: broker.pool().clone(),
        },
    };

    // Presence first: connections registered under this incarnation count
    // only once the node record exists.
    if let Err(e) = presence.heartbeat(node, incarnation).await {
        tracing::warn!(error = %e, "Redis unavailable at start; presence follows when it is back");
    }
    let background = CancellationToken::new();
    let workers = TaskTracker::new();
    let consuming = CancellationToken::new();
    let publishing = CancellationToken::new();
    workers.spawn(publisher.keep_open(publishing.clone(), background.clone()));
    workers.spawn(deliveries::consume_loop(
        broker,
        topology,
        node,
        hub.clone(),
        consuming.clone(),
        background.clone(),
    ));
    workers.spawn(liveness::heartbeat_loop(
        presence,
        node,
        hub,
        background.clone(),
    ));
    let ack_task = tokio::spawn(ack_writer);
    // Serve once sends can be published and deliveries can arrive (or after
    // a bounded wait if the broker is down: sends answer `unavailable` until
    // it is back, and connections catch up then).
    let broker_ready = async {
        publishing.cancelled().await;
        consuming.cancelled().await;
    };
    if tokio::time::timeout(Duration::from_secs(5), broker_ready)
        .await
        .is_err()
    {
        tracing::warn!(
            "RabbitMQ unavailable at start; sends answer `unavailable` until it is back"
        );
    }

    let (app, _openapi) = routes::router(state.clone(), &config);
    let addr = listener.local_addr().context("listener has no address")?;
    tracing::info!(%addr, node_id = node.0, "node listening");
    let stop_accepting = CancellationToken::new();
    // No Nagle: a frame written right after another must not wait for the
    // client's delayed ACK (it added ~40 ms to every message).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let server =
        axum::serve(listener, app).with_graceful_shutdown(stop_accepting.clone().cancelled_owned());
    let grace = config.shutdown_grace();
    let serving = tokio::spawn(async move { server.await });

    let consul = Agent::from_config(
        &config.consul,
        Service::new(
            format!("confab-node-{}", node.0),
            "confab-node",
            &["confab", "ws", "http"],
            config
                .consul
                .consul_service_address
                .clone()
                .unwrap_or_else(|| addr.ip().to_string()),
            addr.port(),
            "/health",
        ),
    )?;
    let consul_stop = CancellationToken::new();
    if let Some(agent) = consul.clone() {
        workers.spawn(agent.keep_registered(consul_stop.clone()));
    }

    shutdown.cancelled().await;
    let deadline = tokio::time::Instant::now() + grace;
    // Leave Consul first, so that Nginx stops sending clients here before we
    // stop accepting them.
    consul_stop.cancel();
    if let Some(agent) = &consul {
        match tokio::time::timeout(Duration::from_secs(3), agent.deregister()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot deregister from Consul"),
            Err(_) => tracing::warn!("Consul did not answer the deregistration in time"),
        }
    }
    stop_accepting.cancel();
    tracing::info!("stopping: closing sockets");
    sessions_stop.cancel();
    state.sessions.close();
    if tokio::time::timeout_at(deadline, state.sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("sessions did not close within the grace period");
    }
    if tokio::time::timeout_at(deadline, serving).await.is_err() {
        tracing::warn!("HTTP connections did not drain within the grace period");
    }
    background.cancel();
    workers.close();
    if tokio::time::timeout_at(deadline, workers.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop within the grace period");
    }
    // The last sender goes with the state: the writer flushes and ends.
    drop(state);
    let _ = tokio::time::timeout_at(deadline + Duration::from_secs(2), ack_task).await;
    db.close().await.ok();
    tracing::info!("node stopped");
    Ok(())
}
