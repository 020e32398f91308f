//! A small run of every scenario, checking correctness only: nothing lost,
//! nothing duplicated, no errors. No timing is asserted (the machine is
//! shared). Each test starts its own cluster in-process — two nodes on port
//! 0 and a dispatcher, as `system/tests/it/helpers.rs` does — against the real
//! Postgres, Redis and RabbitMQ, with its own database, key prefix and queue
//! prefix, all removed at the end. `TEST_DATABASE_URL`, `TEST_REDIS_URL` and
//! `TEST_AMQP_URL` point it elsewhere. The `xmpp` test needs no cluster: it
//! starts the real ejabberd with `bench/peers/ejabberd.sh` (installing it
//! if need be), and is skipped, saying so, when that cannot be done.

// This whole file is tests; a broken precondition should panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "smoke/cluster.rs"]
mod cluster;

use cluster::{Cluster, broker_conn, relay_stores};
use confab_bench::Ctx;
use confab_bench::output::RunRecord;
use confab_bench::scenario::broker::{BrokerOptions, QueueType, SecondQueue};
use confab_bench::scenario::connections::ConnectionsOptions;
use confab_bench::scenario::direct::DirectOptions;
use confab_bench::scenario::group::GroupOptions;
use confab_bench::scenario::offline::OfflineOptions;
use confab_bench::scenario::pairs::PairTraffic;
use confab_bench::scenario::xmpp::XmppOptions;

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

/// Three pairs sending for a moment, as fast as 4 in flight each allow.
fn small_pairs() -> PairTraffic {
    PairTraffic {
        pairs: 3,
        duration: 1.5,
        rate: 0.0,
        in_flight: 4,
        window: None,
        body_bytes: 64,
        drain: 20.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_loses_and_duplicates_nothing_and_reports() {
    let cluster = Cluster::start().await;
    let ctx = Ctx::new(true);
    // The in-process dispatcher records its stages in the one registry
    // every node serves: no dispatcher URL is needed for the waterfall.
    let mut target = cluster.target();
    target.stages = true;
    let options = DirectOptions {
        target,
        traffic: small_pairs(),
        compare_broker: true,
        broker: broker_conn(),
    };
    let record = confab_bench::scenario::direct::run(&ctx, &options)
        .await
        .unwrap();
    assert_clean(&record);
    assert!(record.value("delivered").unwrap() > 0.0);
    // Every stage of the waterfall, in path order (`written` may miss the
    // last few messages, recorded just after the flush the client read).
    let stages: Vec<&str> = record.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, confab_bench::stages::ORDER, "{:?}", record.stages);
    assert!(
        record
            .stages
            .iter()
            .all(|s| s.count > 0 && s.p99_us >= s.p50_us)
    );
    assert!(confab_bench::output::table(&record).contains("since the node read the send"));
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
async fn direct_with_a_shared_window_loses_and_duplicates_nothing() {
    let cluster = Cluster::start().await;
    let options = DirectOptions {
        target: cluster.target(),
        traffic: PairTraffic {
            // Fewer slots than senders: most wait for another's delivery.
            window: Some(2),
            ..small_pairs()
        },
        compare_broker: false,
        broker: broker_conn(),
    };
    let record = confab_bench::scenario::direct::run(&Ctx::new(true), &options)
        .await
        .unwrap();
    assert_clean(&record);
    assert!(record.value("delivered").unwrap() > 0.0);
    assert_eq!(record.value("delivered"), record.value("confirmed"));
    assert_eq!(record.params["window"], 2);
    cluster.stop().await;
}

/// Runs `bench/peers/ejabberd.sh ARGS`; its output, if it succeeded.
async fn ejabberd(args: &[&str]) -> Option<String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/ejabberd.sh");
    let output = tokio::process::Command::new(script)
        .args(args)
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "bench/peers/ejabberd.sh {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_against_ejabberd_loses_and_duplicates_nothing() {
    let was_running = ejabberd(&["status"])
        .await
        .is_some_and(|status| status.contains("running"));
    if ejabberd(&["start"]).await.is_none() || ejabberd(&["users", "6"]).await.is_none() {
        eprintln!("SKIPPED xmpp_against_ejabberd…: ejabberd could not be installed or started");
        return;
    }
    let options = XmppOptions {
        url: "ws://127.0.0.1:5280/ws".parse().unwrap(),
        domain: "bench.local".into(),
        user_prefix: "b".into(),
        password: "bench".into(),
        label: Some("smoke".into()),
        traffic: PairTraffic {
            window: Some(4),
            ..small_pairs()
        },
    };
    let result = confab_bench::scenario::xmpp::run(&Ctx::new(true), &options).await;
    if !was_running {
        ejabberd(&["stop"]).await;
    }
    let record = result.unwrap();
    assert_clean(&record);
    assert!(record.value("delivered").unwrap() > 0.0);
    assert_eq!(record.value("delivered"), record.value("sent"));
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
async fn the_broker_alone_and_the_path_floor_lose_nothing() {
    let small = BrokerOptions {
        publishers: 2,
        in_flight: 16,
        ..BrokerOptions::ceiling(broker_conn(), 1.0, 64)
    };
    // Confab's path without Confab: quorum, a commit and a Redis read in
    // the relay, then a transient queue.
    let (database_url, redis_url) = relay_stores();
    let floor = BrokerOptions {
        queue_type: QueueType::Quorum,
        second_queue: SecondQueue::Transient,
        database_url: Some(database_url),
        redis_url: Some(redis_url),
        ..small.clone()
    };
    let classic = BrokerOptions {
        queue_type: QueueType::Classic,
        ..small.clone()
    };
    let quorum = BrokerOptions {
        queue_type: QueueType::Quorum,
        ..small
    };
    for options in [classic, quorum, floor] {
        let record = confab_bench::scenario::broker::run(&Ctx::new(true), &options)
            .await
            .unwrap();
        assert_clean(&record);
        assert!(record.value("delivered").unwrap() > 0.0);
        assert_eq!(record.value("delivered"), record.value("confirmed"));
        if options.database_url.is_some() {
            // Every message passed through the relay's commit.
            assert_eq!(record.value("committed"), record.value("delivered"));
        } else {
            assert_eq!(record.value("committed"), None);
        }
    }
}
