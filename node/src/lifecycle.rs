//! The node's start and shutdown steps, in the order [`crate::run`] takes
//! them. Start: connect to Postgres, Redis and RabbitMQ (lazily: a process
//! starts, unhealthy, while one is down), build the shared state, start the
//! background workers, wait (boundedly) for the broker, serve. Stop: leave
//! Consul, stop accepting, close every socket with 1001, stop the workers,
//! write the last acks, close the pool.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use confab_common::auth::JwtKeys;
use confab_common::broker::Broker;
use confab_common::consul::{Membership, Service};
use confab_common::presence::Presence;
use confab_common::social::SocialCache;
use confab_common::topology::Topology;
use confab_common::{MessageIdGenerator, metric};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Tokens;
use crate::auth::limits::RateLimits;
use crate::config::Config;
use crate::delivery::consumer::NodeQueue;
use crate::delivery::hub::Hub;
use crate::delivery::{acks, liveness};
use crate::send::SendPath;
use crate::send::authorize::Authorizer;
use crate::send::dedup::Dedup;
use crate::send::publisher::Publisher;
use crate::send::signal::Signals;
use crate::state::AppState;
use crate::{password, routes};

/// How long the node waits for the broker before it serves anyway (sends
/// then answer `unavailable` until the broker is back).
const BROKER_WAIT: Duration = Duration::from_secs(5);

/// A started node: its state and its background workers.
pub(crate) struct Node {
    state: AppState,
    /// The publisher keeper, the queue consumer, the presence heartbeat.
    workers: TaskTracker,
    /// Stops `workers`; cancelled after the sockets are closed.
    background: CancellationToken,
    /// Cancelled once the publish channel is open, and once the consumer is
    /// subscribed.
    publishing: CancellationToken,
    consuming: CancellationToken,
    /// Writes client acks; ends when the last sender (the state's) goes.
    ack_writer: JoinHandle<()>,
}

/// The HTTP server and the Consul registration, between serve and stop.
pub(crate) struct Serving {
    server: JoinHandle<std::io::Result<()>>,
    stop_accepting: CancellationToken,
    consul: Membership,
}

/// What the node connects to.
struct Connections {
    db: sea_orm::DatabaseConnection,
    redis: confab_common::redis::Redis,
    /// For the revocations subscription, a connection of its own: to the
    /// one Redis, or to any of a cluster's seed nodes.
    redis_seeds: Vec<redis::Client>,
    broker: Broker,
    topology: Topology,
}

impl Node {
    /// Connects, builds the state and starts the background workers.
    pub(crate) async fn start(config: &Config) -> anyhow::Result<Self> {
        let connections = Connections {
            db: config.database.connect().await?,
            redis: config.redis.connect().await?,
            redis_seeds: config.redis.subscription_clients()?,
            broker: config
                .amqp
                .broker(&format!("confab-node-{}", config.node_id().0))?,
            topology: config.amqp.topology(),
        };
        confab_common::telemetry::prometheus();
        metric::register_node();
        let publisher = Arc::new(Publisher::new(
            connections.broker.clone(),
            connections.topology.clone(),
            Duration::from_millis(config.ws.publish_timeout_ms),
        ));
        let (acks, ack_writer) = acks::writer(connections.db.clone());
        let state = app_state(config, &connections, publisher.clone(), acks)?;
        let node = Self {
            state,
            workers: TaskTracker::new(),
            background: CancellationToken::new(),
            publishing: CancellationToken::new(),
            consuming: CancellationToken::new(),
            ack_writer: tokio::spawn(ack_writer),
        };
        node.spawn_workers(config, connections, publisher).await;
        Ok(node)
    }

    /// Starts the publisher's keeper, the queue consumer and the presence
    /// heartbeat. Presence first: connections registered under this
    /// incarnation count only once the node record exists.
    async fn spawn_workers(
        &self,
        config: &Config,
        connections: Connections,
        publisher: Arc<Publisher>,
    ) {
        let node = config.node_id();
        let (hub, presence) = (&self.state.hub, &self.state.presence);
        // The process this one replaces (a crash and restart under the same
        // node id): its users may have gone offline with it.
        let replaced = presence.incarnation_of(node).await.ok().flatten();
        if let Err(e) = presence.heartbeat(node, hub.incarnation()).await {
            tracing::warn!(error = %e, "Redis unavailable at start; presence follows when it is back");
        }
        if let Some(old) = replaced.filter(|&old| old != hub.incarnation()) {
            let (presence, signals) = (presence.clone(), self.state.signals.clone());
            let (publishing, stop) = (self.publishing.clone(), self.background.clone());
            self.workers.spawn(async move {
                tokio::select! {
                    () = publishing.cancelled() => {}
                    () = stop.cancelled() => return,
                }
                for user in presence
                    .reap_incarnation(node, old)
                    .await
                    .unwrap_or_default()
                {
                    signals.presence(user, false).await;
                }
            });
        }
        self.workers
            .spawn(publisher.keep_open(self.publishing.clone(), self.background.clone()));
        let queue = NodeQueue {
            broker: connections.broker,
            topology: connections.topology,
            node,
            hub: hub.clone(),
        };
        self.workers
            .spawn(queue.consume_loop(self.consuming.clone(), self.background.clone()));
        self.workers.spawn(liveness::heartbeat_loop(
            presence.clone(),
            node,
            hub.clone(),
            self.background.clone(),
        ));
        self.workers
            .spawn(self.state.tokens.clone().follow_revocations(
                self.state.db.clone(),
                connections.redis_seeds,
                self.background.clone(),
            ));
        let (limits, stop) = (self.state.limits.clone(), self.background.clone());
        self.workers.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            while stop.run_until_cancelled(every.tick()).await.is_some() {
                limits.forget_quiet();
            }
        });
    }

    /// Waits until sends can be published and deliveries can arrive, or
    /// [`BROKER_WAIT`] if the broker is down: sends answer `unavailable`
    /// until it is back, and connections catch up then. Then, as long
    /// again at most, until the revoked sessions are read (tokens are
    /// answered 503 until they are).
    pub(crate) async fn wait_for_broker(&self) {
        let ready = async {
            self.publishing.cancelled().await;
            self.consuming.cancelled().await;
        };
        let revocations = self.state.tokens.revocations.clone();
        if tokio::time::timeout(BROKER_WAIT, revocations.wait_loaded())
            .await
            .is_err()
        {
            tracing::warn!("revoked sessions not read yet; tokens are answered 503 until they are");
        }
        if tokio::time::timeout(BROKER_WAIT, ready).await.is_err() {
            tracing::warn!(
                "RabbitMQ unavailable at start; sends answer `unavailable` until it is back"
            );
        }
    }

    /// Serves HTTP and WebSocket on `listener` and registers with Consul.
    pub(crate) fn serve(&self, listener: TcpListener, config: &Config) -> anyhow::Result<Serving> {
        let (app, _openapi) = routes::router(self.state.clone(), config);
        let addr = listener.local_addr().context("listener has no address")?;
        tracing::info!(%addr, node_id = config.node_id().0, "node listening");
        // No Nagle: a frame written right after another must not wait for
        // the client's delayed ACK (it added ~40 ms to every message).
        let listener =
            axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            });
        let stop_accepting = CancellationToken::new();
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(stop_accepting.clone().cancelled_owned());
        let server = tokio::spawn(async move { server.await });
        let address = config.consul.consul_service_address.clone();
        let service = Service::new(
            format!("confab-node-{}", config.node_id().0),
            "confab-node",
            &["confab", "ws", "http"],
            address.unwrap_or_else(|| addr.ip().to_string()),
            addr.port(),
            "/health",
        );
        Ok(Serving {
            server,
            stop_accepting,
            consul: Membership::join(&config.consul, service)?,
        })
    }

    /// The shutdown steps, all within `grace`.
    pub(crate) async fn stop(self, serving: Serving, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        serving.consul.leave().await;
        serving.stop_accepting.cancel();
        tracing::info!("stopping: closing sockets");
        self.state.shutdown.cancel();
        self.state.connections.close();
        if tokio::time::timeout_at(deadline, self.state.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections did not close within the grace period");
        }
        if tokio::time::timeout_at(deadline, serving.server)
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections did not drain within the grace period");
        }
        self.background.cancel();
        self.workers.close();
        if tokio::time::timeout_at(deadline, self.workers.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within the grace period");
        }
        let db = self.state.db.clone();
        // The last ack sender goes with the state: the writer flushes and ends.
        drop(self.state);
        let _ = tokio::time::timeout_at(deadline + Duration::from_secs(2), self.ack_writer).await;
        db.close().await.ok();
        tracing::info!("node stopped");
    }
}

/// The state every handler and connection shares.
fn app_state(
    config: &Config,
    connections: &Connections,
    publisher: Arc<Publisher>,
    acks: acks::AckSender,
) -> anyhow::Result<AppState> {
    let node = config.node_id();
    let Connections {
        db, redis, broker, ..
    } = connections;
    let prefix = config.redis.redis_key_prefix.clone();
    let social = SocialCache::new(redis.clone(), db.clone(), prefix.clone());
    let incarnation = uuid::Uuid::new_v4().as_u64_pair().0;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let authorizer = Authorizer {
        social: social.clone(),
        db: db.clone(),
    };
    let hub = Arc::new(Hub::new(node, incarnation, config.ws.outbound_queue));
    Ok(AppState {
        db: db.clone(),
        presence: Presence::new(redis.clone(), prefix.clone()),
        tokens: Arc::new(Tokens::new(
            JwtKeys::new(&config.jwt.validated_secret()?, config.jwt.ttl()?),
            hub.clone(),
            redis.clone(),
            prefix.clone(),
        )),
        limits: Arc::new(RateLimits::new(
            &config.limits,
            &config.ws,
            redis.clone(),
            prefix.clone(),
        )),
        passwords: password::Passwords::new(cores, config.password_queue)?,
        max_group_members: config.max_group_members,
        social,
        hub,
        signals: Arc::new(Signals {
            db: db.clone(),
            authorizer: authorizer.clone(),
            publisher: publisher.clone(),
            redis: redis.clone(),
            keys: confab_common::keys::Keyspace::new(prefix.clone()),
        }),
        sends: Arc::new(SendPath {
            dedup: Dedup::new(redis.clone(), prefix),
            authorizer,
            publisher,
            ids: Arc::new(MessageIdGenerator::new(node)),
        }),
        acks,
        ws: (&config.ws).into(),
        // As many replays read at once as the pool has connections.
        replays: Arc::new(tokio::sync::Semaphore::new(
            config.database.database_max_connections as usize,
        )),
        // Connections close (1001) by their own token, after the node left
        // Consul and stopped accepting, before its workers stop.
        shutdown: CancellationToken::new(),
        connections: TaskTracker::new(),
        probe: confab_common::health::Probe {
            db: db.clone(),
            redis: redis.clone(),
            amqp: broker.clone(),
        },
    })
}
