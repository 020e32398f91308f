//! A small run of every scenario, checking correctness only: nothing lost,
//! nothing duplicated, no errors. No timing is asserted (the machine is
//! shared). Each test starts its own cluster in-process — two nodes on port
//! 0 and a dispatcher, as `node/tests/it/helpers.rs` does — against the real
//! Postgres, Redis and RabbitMQ, with its own database, key prefix and queue
//! prefix, all removed at the end. `TEST_DATABASE_URL`, `TEST_REDIS_URL` and
//! `TEST_AMQP_URL` point it elsewhere.

// This whole file is tests; a broken precondition should panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use confab_bench::Ctx;
use confab_bench::cli::Target;
use confab_bench::output::RunRecord;
use confab_bench::scenario::broker::{BrokerConn, BrokerOptions, QueueType};
use confab_bench::scenario::connections::ConnectionsOptions;
use confab_bench::scenario::direct::DirectOptions;
use confab_bench::scenario::group::GroupOptions;
use confab_bench::scenario::offline::OfflineOptions;
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
struct Cluster {
    urls: Vec<url::Url>,
    /// Node shutdown tokens and tasks, then the dispatcher's.
    tasks: Vec<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
    unique: String,
}

impl Cluster {
    async fn start() -> Self {
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

    fn target(&self) -> Target {
        Target {
            urls: self.urls.clone(),
            label: Some("smoke".into()),
        }
    }

    /// Stops everything, then removes the database, queues and keys.
    async fn stop(mut self) {
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

fn broker_conn() -> BrokerConn {
    BrokerConn {
        amqp_url: amqp_url(),
        amqp_prefix: "confab-bench-smoke.".into(),
    }
}

/// Nothing lost, nothing duplicated, no error of any kind.
#[track_caller]
fn assert_clean(record: &RunRecord) {
    let c = &record.correctness;
    assert_eq!(
        (c.lost, c.duplicated),
        (0, 0),
        "{}",
        confab_bench::output::table(record)
    );
    assert!(
        c.errors.is_empty(),
        "{}",
        confab_bench::output::table(record)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_loses_and_duplicates_nothing_and_reports() {
    let cluster = Cluster::start().await;
    let ctx = Ctx::new(true);
    let options = DirectOptions {
        target: cluster.target(),
        pairs: 3,
        duration: 1.5,
        rate: 0.0,
        in_flight: 4,
        body_bytes: 64,
        drain: 20.0,
        compare_broker: true,
        broker: broker_conn(),
    };
    let record = confab_bench::scenario::direct::run(&ctx, &options)
        .await
        .unwrap();
    assert_clean(&record);
    assert!(record.value("delivered").unwrap() > 0.0);
    assert_eq!(record.value("delivered"), record.value("confirmed"));
    let ceiling = record.ceiling.as_deref().expect("the broker ceiling");
    assert_clean(ceiling);
    assert!(record.value("fraction of broker ceiling").is_some());

    // The JSON reads back, and the report draws it.
    let dir = std::env::temp_dir().join(format!("confab-bench-smoke-{}", ctx.run_id));
    let json = confab_bench::output::write_json(&record, None, &dir).unwrap();
    let records = confab_bench::report::load(&[json]).unwrap();
    assert_eq!(records.len(), 2, "the run and its ceiling");
    let svg = dir.join("report.svg");
    confab_bench::report::draw(&records, &svg, "smoke").unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    assert!(confab_bench::report::medians(&records).contains("direct (smoke)"));
    std::fs::remove_dir_all(&dir).ok();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_fans_out_to_every_online_member_once() {
    let cluster = Cluster::start().await;
    let options = GroupOptions {
        target: cluster.target(),
        members: 6,
        offline: 1,
        senders: 2,
        duration: 1.5,
        rate: 0.0,
        in_flight: 4,
        body_bytes: 64,
        drain: 20.0,
    };
    let record = confab_bench::scenario::group::run(&Ctx::new(true), &options)
        .await
        .unwrap();
    assert_clean(&record);
    assert!(record.value("deliveries").unwrap() > 0.0);
    assert_eq!(
        record.value("deliveries"),
        record.value("deliveries expected")
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_drains_every_stored_message_once() {
    let cluster = Cluster::start().await;
    let options = OfflineOptions {
        target: cluster.target(),
        messages: 300,
        in_flight: 64,
        body_bytes: 64,
        timeout: 60.0,
        verify: true,
    };
    let record = confab_bench::scenario::offline::run(&Ctx::new(true), &options)
        .await
        .unwrap();
    assert_clean(&record);
    assert_eq!(record.value("messages drained"), Some(300.0));
    assert_eq!(record.value("redelivered after ack"), Some(0.0));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_stay_up_and_answer_heartbeats() {
    let cluster = Cluster::start().await;
    let options = ConnectionsOptions {
        target: cluster.target(),
        count: 40,
        per_user: 4,
        sources: 2,
        concurrency: 8,
        hold: 2.5,
        rest_urls: Vec::new(),
        // In-process: the test's own memory stands in for the node's.
        node_pids: vec![std::process::id()],
    };
    let record = confab_bench::scenario::connections::run(&Ctx::new(true), &options)
        .await
        .unwrap();
    assert_clean(&record);
    assert_eq!(record.value("connections opened"), Some(40.0));
    assert_eq!(record.value("no pong at the end"), Some(0.0));
    assert!(record.value("server pings answered").unwrap() > 0.0);
    assert!(record.value("node RSS per connection (held)").is_some());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_alone_loses_nothing() {
    for queue_type in [QueueType::Classic, QueueType::Quorum] {
        let options = BrokerOptions {
            queue_type,
            publishers: 2,
            in_flight: 16,
            ..BrokerOptions::ceiling(broker_conn(), 1.0, 64)
        };
        let record = confab_bench::scenario::broker::run(&Ctx::new(true), &options)
            .await
            .unwrap();
        assert_clean(&record);
        assert!(record.value("delivered").unwrap() > 0.0);
        assert_eq!(record.value("delivered"), record.value("confirmed"));
    }
}
