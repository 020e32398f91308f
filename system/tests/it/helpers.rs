//! `TestApp`: a node started on port 0 with its own database and Redis
//! prefix, and typed helpers to talk to it.

#![allow(dead_code)]

use std::sync::Arc;

use clap::Parser;
use confab_common::UserId;
use confab_common::presence::Presence;
use confab_migrations::{Migrator, MigratorTrait};
use confab_node::Config;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The secret the test nodes sign with.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// Postgres server URL without a database name (`TEST_DATABASE_URL` overrides).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// AMQP URL (`TEST_AMQP_URL` overrides).
fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Redis URL (`TEST_REDIS_URL` overrides).
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Running nodes (and optionally a dispatcher) and what they run against.
/// Everything is isolated per test: its own database, Redis key prefix and
/// queue prefix.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the first node.
    pub base: String,
    /// The nodes, by index.
    pub nodes: Vec<TestNode>,
    pub http: reqwest::Client,
    /// The test's own database, for checking what the API changed (or did not).
    pub db: DatabaseConnection,
    /// Presence under the test's own Redis prefix.
    pub presence: Presence,
    /// The flags every node of this test shares.
    args: Vec<String>,
    /// The flags the dispatcher takes (the shared ones without node extras).
    dispatcher_args: Vec<String>,
    dispatcher: Option<Dispatcher>,
    isolation: Isolation,
}

/// One node of a [`TestApp`].
pub struct TestNode {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    /// Stops everything and removes what the test made: its database, its
    /// queues and its Redis keys, so that runs leave nothing behind.
    fn drop(&mut self) {
        for node in &self.nodes {
            node.shutdown.cancel();
        }
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.kill();
        }
        let isolation = self.isolation.clone();
        let queues: Vec<String> = ["input", "input.1", "input.2", "input.3", "input.dead"]
            .iter()
            .map(|q| q.to_string())
            .chain((1..=self.nodes.len()).map(|n| format!("node.{n}")))
            .map(|q| format!("{}{q}", isolation.amqp_prefix))
            .collect();
        // Drop cannot await, and the test's runtime is busy ending: clean up
        // on a thread of our own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(isolation.remove(&queues));
        });
        let _ = cleanup.join();
    }
}

/// What one test owns on the shared servers.
#[derive(Debug, Clone)]
struct Isolation {
    db_name: String,
    redis_prefix: String,
    amqp_prefix: String,
}

impl Isolation {
    async fn remove(&self, queues: &[String]) {
        if let Ok(connection) =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await
            && let Ok(channel) = connection.create_channel().await
        {
            for queue in queues {
                let _ = channel
                    .queue_delete(
                        queue.as_str().into(),
                        lapin::options::QueueDeleteOptions::default(),
                    )
                    .await;
            }
            let _ = connection.close(200, "test done".into()).await;
        }
        if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut redis) = client.get_multiplexed_async_connection().await
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.redis_prefix))
                .query_async(&mut redis)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
            }
        }
        if let Ok(admin) = Database::connect(format!("{}/postgres", server_url())).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.db_name
                ))
                .await;
            let _ = admin.close().await;
        }
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: UserId,
    pub username: String,
    pub token: String,
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// Asserts the status and the error code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.body
        );
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.body
    }
}

impl TestApp {
    /// A node with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A node with extra command-line flags (e.g. `["--max-group-members", "3"]`).
    pub async fn spawn_with(extra: &[&str]) -> Self {
        Self::spawn_cluster(1, false, extra).await
    }

    /// `nodes` nodes (ids 1, 2, …) and, if `dispatcher`, a dispatcher, all
    /// sharing the test's database, Redis prefix and queue prefix.
    pub async fn spawn_cluster(nodes: usize, dispatcher: bool, extra: &[&str]) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("confab_test_{unique}");
        let admin = Database::connect(format!("{}/postgres", server_url()))
            .await
            .expect("connect to Postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let database_url = format!("{}/{db_name}", server_url());
        let db = Database::connect(&database_url)
            .await
            .expect("connect to the test database");
        Migrator::up(&db, None)
            .await
            .expect("migrate the test database");

        let prefix = format!("confab-test-{unique}:");
        let amqp_prefix = format!("confab-test-{unique}.");
        let mut args: Vec<String> = [
            "--database-url",
            &database_url,
            "--database-max-connections",
            "8",
            "--redis-url",
            &redis_url(),
            "--redis-key-prefix",
            &prefix,
            "--amqp-url",
            &amqp_url(),
            "--amqp-prefix",
            &amqp_prefix,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let redis = confab_common::config::RedisConfig {
            redis_url: redis_url().into(),
            redis_cluster_nodes: Vec::new(),
            redis_key_prefix: prefix.clone(),
        }
        .connect()
        .await
        .expect("connect to Redis");

        let dispatcher_args = args.clone();
        // Tests send and call far above a person's pace, all from one
        // address; the limits have their own tests (`limits.rs`).
        args.extend(
            [
                "--send-rate",
                "1000000",
                "--send-burst",
                "1000000",
                "--rest-rate",
                "1000000",
                "--rest-burst",
                "1000000",
                "--register-per-address",
                "1000000",
                "--login-per-address",
                "1000000",
            ]
            .map(String::from),
        );
        let web_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/public");
        let sdk_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/js/src");
        args.extend(["--web-root".to_owned(), web_root.to_owned()]);
        args.extend(["--sdk-root".to_owned(), sdk_root.to_owned()]);
        let dispatcher = dispatcher.then(|| Dispatcher::start(&dispatcher_args));
        args.extend(extra.iter().map(|s| s.to_string()));

        let mut app = Self {
            base: String::new(),
            nodes: Vec::new(),
            http: reqwest::Client::new(),
            db,
            presence: Presence::new(redis, prefix.clone()),
            args,
            dispatcher_args,
            dispatcher,
            isolation: Isolation {
                db_name,
                redis_prefix: prefix.clone(),
                amqp_prefix,
            },
        };
        for _ in 0..nodes {
            app.add_node().await;
        }
        app.base = app.nodes[0].base.clone();
        app
    }

    /// Starts one more node (its id is its index + 1) and returns its index.
    pub async fn add_node(&mut self) -> usize {
        let index = self.nodes.len();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let node = self.start_node(index, listener).await;
        self.nodes.push(node);
        index
    }

    async fn start_node(&self, index: usize, listener: TcpListener) -> TestNode {
        let addr = listener.local_addr().expect("local addr").to_string();
        let node_id = (index + 1).to_string();
        let args = std::iter::once("confab-node".to_owned())
            .chain(self.args.iter().cloned())
            .chain([
                "--jwt-secret".to_owned(),
                SECRET.to_owned(),
                "--node-id".to_owned(),
                node_id,
            ]);
        let config = Config::try_parse_from(args).expect("test configuration");
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(confab_node::run(config, listener, shutdown.clone()));
        let node = TestNode {
            base: format!("http://{addr}"),
            addr,
            shutdown,
            handle: Some(handle),
        };
        wait_until_serving(&self.http, &node.base).await;
        node
    }

    /// Stops node `index` as SIGTERM would, and waits until it has exited.
    pub async fn stop_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.shutdown.cancel();
        if let Some(handle) = node.handle.take() {
            handle
                .await
                .expect("node task")
                .expect("node stopped cleanly");
        }
    }

    /// Starts node `index` again (same id) on a new port, after [`stop_node`].
    pub async fn restart_node(&mut self, index: usize) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let node = self.start_node(index, listener).await;
        self.nodes[index] = node;
    }

    /// Starts one more dispatcher beside the running one (a standby: the
    /// broker lets one consume at a time) and returns it, to stop later.
    pub fn add_dispatcher(&self) -> Dispatcher {
        Dispatcher::start(&self.dispatcher_args)
    }

    /// Kills the dispatcher as SIGKILL would: its runtime is torn down with
    /// every task and connection on it, mid-work.
    pub fn kill_dispatcher(&mut self) {
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.kill();
        }
    }

    /// Stops the dispatcher as SIGTERM would, waits for it, and starts a new one.
    pub async fn restart_dispatcher(&mut self) {
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.stop().await;
        }
        self.start_dispatcher();
    }

    /// Stops the dispatcher as SIGTERM would, and waits for it.
    pub async fn stop_dispatcher(&mut self) {
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.stop().await;
        }
    }

    /// Starts a dispatcher (after [`Self::kill_dispatcher`]).
    pub fn start_dispatcher(&mut self) {
        self.dispatcher = Some(Dispatcher::start(&self.dispatcher_args));
    }

    /// Starts the dispatcher with extra flags (e.g. its home shards).
    pub fn start_dispatcher_with(&mut self, extra: &[&str]) {
        self.dispatcher = Some(self.add_dispatcher_with(extra));
    }

    /// Starts one more dispatcher with extra flags.
    pub fn add_dispatcher_with(&self, extra: &[&str]) -> Dispatcher {
        let mut args = self.dispatcher_args.clone();
        args.extend(extra.iter().map(|s| s.to_string()));
        Dispatcher::start(&args)
    }

    /// The queue names of this test, with `shards` input shards.
    pub fn topology(&self, shards: u16) -> confab_common::topology::Topology {
        confab_common::topology::Topology::new(self.isolation.amqp_prefix.clone(), shards)
    }

    /// Envelopes waiting in the `shards` input shards, ready or unacked (as
    /// a passive declare counts them once nothing consumes).
    pub async fn input_depth(&self, shards: u16) -> u32 {
        let amqp = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = amqp.create_channel().await.expect("a channel");
        let mut depth = 0;
        for queue in self.topology(shards).inputs() {
            let declared = channel
                .queue_declare(
                    queue.as_str().into(),
                    lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    Default::default(),
                )
                .await
                .expect("the input shard exists");
            depth += declared.message_count();
        }
        amqp.close(200, "done".into()).await.ok();
        depth
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }

    /// Turns a response into a [`Reply`].
    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let bytes = response.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, body }
    }

    pub async fn get(&self, path: &str, user: &TestUser) -> Reply {
        self.call(Method::GET, path, Some(&user.token), None).await
    }

    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&user.token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&user.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, user: &TestUser) -> Reply {
        self.call(Method::DELETE, path, Some(&user.token), None)
            .await
    }

    /// Registers `username` with password `password123`.
    pub async fn register(&self, username: &str) -> TestUser {
        let body = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"username": username, "password": "password123"})),
            )
            .await
            .expect(201);
        TestUser {
            id: UserId(body["user"]["id"].as_i64().expect("user id")),
            username: username.to_owned(),
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// Makes `a` and `b` friends through the API.
    pub async fn befriend(&self, a: &TestUser, b: &TestUser) {
        let request = self
            .post("/api/friends/requests", a, json!({"user_id": b.id.0}))
            .await
            .expect(201);
        let id = request["id"].as_i64().expect("request id");
        self.post(&format!("/api/friends/requests/{id}/accept"), b, json!({}))
            .await
            .expect(200);
    }

    /// Creates a group owned by `owner` with `members`; returns its id.
    pub async fn create_group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> i64 {
        let ids: Vec<i64> = members.iter().map(|m| m.id.0).collect();
        let group = self
            .post(
                "/api/groups",
                owner,
                json!({"name": name, "member_ids": ids}),
            )
            .await
            .expect(201);
        group["id"].as_i64().expect("group id")
    }

    /// One number from the database, for "nothing changed" checks.
    pub async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql.to_owned(),
            ))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Waits (a bounded time) until `sql` counts `expected`: for effects of
    /// the asynchronous message path.
    pub async fn eventually(&self, expected: i64, sql: &str) {
        let mut last = 0;
        for _ in 0..200 {
            last = self.count(sql).await;
            if last == expected {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{sql}: {last}, expected {expected}");
    }

    /// Makes node process (`node`, `incarnation`) look dead in presence, as
    /// it does when the process stopped beating without closing anything.
    pub async fn let_node_lapse(&self, node: confab_common::NodeId, incarnation: u64) {
        let client = redis::Client::open(redis_url()).expect("redis url");
        let mut redis = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        redis::cmd("HSET")
            .arg(confab_common::keys::Keyspace::new(self.isolation.redis_prefix.clone()).nodes())
            .arg(node.0)
            .arg(format!("{incarnation}:1"))
            .exec_async(&mut redis)
            .await
            .expect("HSET");
    }

    /// Marks `user` as connected (as a node would) so that `online` flags show it.
    pub async fn set_online(&self, user: &TestUser) {
        let key = confab_common::presence::ConnKey {
            node: confab_common::NodeId(999),
            incarnation: 7,
            conn: 1,
        };
        self.presence
            .heartbeat(key.node, key.incarnation)
            .await
            .expect("presence");
        self.presence
            .register(&[(user.id, key)])
            .await
            .expect("presence");
    }
}

/// A dispatcher on a runtime of its own, so that killing it ends every task
/// and connection it has, as killing its process would.
pub struct Dispatcher {
    runtime: tokio::runtime::Runtime,
    token: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Dispatcher {
    /// Starts a dispatcher with `args`.
    fn start(args: &[String]) -> Self {
        let config = confab_dispatcher::Config::try_parse_from(
            std::iter::once("confab-dispatcher".to_owned())
                .chain(args.iter().cloned())
                .chain(["--health-addr".to_owned(), "127.0.0.1:0".to_owned()]),
        )
        .expect("dispatcher configuration");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("dispatcher runtime");
        let token = CancellationToken::new();
        let stop = token.clone();
        let handle = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::bind(config.health_addr).await?;
            confab_dispatcher::run(config, listener, stop).await
        });
        Self {
            runtime,
            token,
            handle,
        }
    }

    /// Stops it gracefully and waits for it.
    pub async fn stop(self) {
        self.token.cancel();
        self.handle
            .await
            .expect("dispatcher task")
            .expect("dispatcher stopped cleanly");
        self.runtime.shutdown_background();
    }

    /// Kills it at once.
    pub fn kill(self) {
        self.runtime.shutdown_background();
    }
}

/// Waits until `base` answers `/livez`.
async fn wait_until_serving(http: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if http.get(format!("{base}/livez")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the node did not start");
}

/// A TCP forwarder to a real server that a test can take down and bring back,
/// to see how Confab behaves when a dependency becomes unreachable — or
/// stalls: accepts connections and never answers them, as a booting
/// RabbitMQ does to some of the handshakes it accepts.
pub struct Outage {
    /// `127.0.0.1:PORT` to connect to instead of the real server.
    pub addr: String,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    kill: tokio::sync::broadcast::Sender<()>,
    /// Connections accepted in stall mode (held open, never answered).
    stalled: tokio::sync::watch::Receiver<usize>,
}

const FORWARD: u8 = 0;
const REFUSE: u8 = 1;
const STALL: u8 = 2;

impl Outage {
    /// Forwards to `target` (`host:port`) until told otherwise.
    pub async fn forward_to(target: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(FORWARD));
        let (kill, _) = tokio::sync::broadcast::channel(1);
        let (stalled_tx, stalled) = tokio::sync::watch::channel(0usize);
        let (flag, killer, target) = (mode.clone(), kill.clone(), target.to_owned());
        tokio::spawn(async move {
            // Stalled connections are held here, silent, until the forwarder
            // ends with the test: whoever connected must give up by itself.
            let mut held = Vec::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                match flag.load(Ordering::SeqCst) {
                    // Dropped: the client sees the connection close.
                    REFUSE => continue,
                    STALL => {
                        held.push(inbound);
                        stalled_tx.send_modify(|n| *n += 1);
                        continue;
                    }
                    _ => {}
                }
                let mut killed = killer.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {},
                        _ = killed.recv() => {},
                    }
                });
            }
        });
        Self {
            addr,
            mode,
            kill,
            stalled,
        }
    }

    /// Cuts every connection and refuses new ones.
    pub fn down(&self) {
        self.set(REFUSE);
        let _ = self.kill.send(());
    }

    /// Cuts every connection; new ones are accepted and never answered.
    pub fn stall(&self) {
        self.set(STALL);
        let _ = self.kill.send(());
    }

    /// Waits until at least `n` connections are being stalled.
    pub async fn stalled_at_least(&self, n: usize) {
        let mut stalled = self.stalled.clone();
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            stalled.wait_for(|&count| count >= n),
        )
        .await
        .expect("nobody tried to reconnect")
        .expect("the forwarder ended");
    }

    /// Forwards again (connections stalled so far stay stalled).
    pub fn up(&self) {
        self.set(FORWARD);
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `n` copies of `f` at once and returns their results.
pub async fn concurrently<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let fut = f(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
