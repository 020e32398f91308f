//! The smoke tests' cluster: two nodes on port 0 and a dispatcher,
//! in-process, on a database, key prefix and queue prefix of their own,
//! all removed at the end (or when a failed test drops it).

use clap::Parser;
use confab_bench::cli::Target;
use confab_bench::scenario::broker::BrokerConn;
use confab_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn postgres() -> String {
    env_or("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
}

fn redis_url() -> String {
    env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

fn amqp_url() -> String {
    env_or("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
}

/// Two nodes and a dispatcher on this test's own database and prefixes.
pub struct Cluster {
    urls: Vec<url::Url>,
    /// Node shutdown tokens and tasks, then the dispatcher's.
    tasks: Vec<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
    unique: String,
}

impl Cluster {
    pub async fn start() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let admin = Database::connect(format!("{}/postgres", postgres()))
            .await
            .expect("connect to Postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE bench_{unique}"))
            .await
            .expect("create the database");
        admin.close().await.ok();
        let database_url = format!("{}/bench_{unique}", postgres());
        let db = Database::connect(&database_url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        db.close().await.ok();

        let shared: Vec<String> = [
            "--database-url",
            &database_url,
            "--database-max-connections",
            "4",
            "--redis-url",
            &redis_url(),
            "--redis-key-prefix",
            &format!("bench-{unique}:"),
            "--amqp-url",
            &amqp_url(),
            "--amqp-prefix",
            &format!("bench-{unique}."),
        ]
        .map(String::from)
        .to_vec();
        let mut cluster = Self {
            urls: Vec::new(),
            tasks: Vec::new(),
            unique,
        };
        for id in 1..=2 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let config = confab_node::Config::try_parse_from(
                ["confab-node"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(shared.clone())
                    .chain(
                        [
                            "--node-id",
                            &id.to_string(),
                            "--jwt-secret",
                            "bench-smoke-secret-bench-smoke-secret-0123456789",
                            // The bench sends far above a person's pace.
                            "--send-rate",
                            "1000000",
                            "--send-burst",
                            "1000000",
                            // Every bench user signs up from here.
                            "--register-per-address",
                            "1000000",
                            "--login-per-address",
                            "1000000",
                            // Pings every second, so a short hold sees some.
                            "--ping-secs",
                            "1",
                            "--shutdown-grace-secs",
                            "3",
                        ]
                        .map(String::from),
                    ),
            )
            .expect("node configuration");
            let token = CancellationToken::new();
            let task = tokio::spawn(confab_node::run(config, listener, token.clone()));
            cluster.tasks.push((token, task));
            cluster.urls.push(format!("http://{addr}").parse().unwrap());
        }
        let config = confab_dispatcher::Config::try_parse_from(
            ["confab-dispatcher"]
                .iter()
                .map(|s| s.to_string())
                .chain(shared)
                .chain(["--health-addr", "127.0.0.1:0"].map(String::from)),
        )
        .expect("dispatcher configuration");
        let token = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(config.health_addr)
            .await
            .unwrap();
        let task = tokio::spawn(confab_dispatcher::run(config, listener, token.clone()));
        cluster.tasks.push((token, task));

        let http = reqwest::Client::new();
        for url in &cluster.urls {
            let livez = url.join("/livez").unwrap();
            for _ in 0..400 {
                if http.get(livez.clone()).send().await.is_ok() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        }
        cluster
    }

    pub fn target(&self) -> Target {
        Target {
            urls: self.urls.clone(),
            label: Some("smoke".into()),
            stages: false,
            dispatchers: Vec::new(),
        }
    }

    /// Stops everything, then removes the database, queues and keys.
    pub async fn stop(mut self) {
        for (token, task) in self.tasks.drain(..) {
            token.cancel();
            let _ = task.await;
        }
        remove(&self.unique).await;
    }
}

impl Drop for Cluster {
    /// A test that failed midway still leaves nothing behind.
    fn drop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        for (token, _) in &self.tasks {
            token.cancel();
        }
        let unique = self.unique.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(remove(&unique));
        })
        .join();
    }
}

/// Removes what a cluster named `unique` made on the shared servers.
async fn remove(unique: &str) {
    if let Ok(amqp) =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await
        && let Ok(channel) = amqp.create_channel().await
    {
        for queue in [
            "input",
            "input.1",
            "input.2",
            "input.3",
            "input.dead",
            "node.1",
            "node.2",
        ] {
            let name = format!("bench-{unique}.{queue}");
            let _ = channel
                .queue_delete(name.as_str().into(), Default::default())
                .await;
        }
        let _ = amqp.close(200, "smoke done".into()).await;
    }
    if let Ok(client) = redis::Client::open(redis_url())
        && let Ok(mut redis) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("bench-{unique}:*"))
            .query_async(&mut redis)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
        }
    }
    if let Ok(admin) = Database::connect(format!("{}/postgres", postgres())).await {
        let _ = admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS bench_{unique} WITH (FORCE)"
            ))
            .await;
        admin.close().await.ok();
    }
}

/// Postgres (its `test` database) and Redis for the broker scenario's
/// relay writes.
pub fn relay_stores() -> (String, String) {
    (format!("{}/test", postgres()), redis_url())
}

/// The tests' broker, under a queue prefix of the smoke tests' own.
pub fn broker_conn() -> BrokerConn {
    BrokerConn {
        amqp_url: amqp_url(),
        amqp_prefix: "confab-bench-smoke.".into(),
    }
}
