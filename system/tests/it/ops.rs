//! The operator surface: `/health` against real dependencies (and one taken
//! away), `/metrics`.

use std::time::Duration;

use crate::client::{Client, to_user};
use crate::helpers::{Outage, TestApp};

async fn health(app: &TestApp) -> (u16, serde_json::Value) {
    let response = app
        .http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn health_reports_every_dependency() {
    let app = TestApp::spawn().await;
    let (status, report) = health(&app).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "ok");
    for dependency in ["postgres", "redis", "rabbitmq"] {
        assert_eq!(report["checks"][dependency]["ok"], true, "{report}");
    }
    let live = app
        .http
        .get(format!("{}/livez", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 200);
}

#[tokio::test]
async fn health_is_503_while_redis_is_unreachable_and_200_when_it_is_back() {
    let redis = Outage::forward_to("127.0.0.1:6379").await;
    let url = format!("redis://{}", redis.addr);
    let app = TestApp::spawn_cluster(1, false, &["--redis-url", &url]).await;
    assert_eq!(health(&app).await.0, 200);

    redis.down();
    let mut report = serde_json::Value::Null;
    let mut down = false;
    for _ in 0..50 {
        let (status, body) = health(&app).await;
        if status == 503 {
            report = body;
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down, "health stayed 200 with Redis gone");
    assert_eq!(report["status"], "unavailable");
    assert_eq!(report["checks"]["redis"]["ok"], false);
    assert!(report["checks"]["redis"]["error"].as_str().is_some());
    assert_eq!(report["checks"]["postgres"]["ok"], true);

    redis.up();
    let mut back = false;
    for _ in 0..100 {
        if health(&app).await.0 == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "health did not recover when Redis came back");
}

#[tokio::test]
async fn a_node_starts_while_postgres_is_unreachable_and_answers_503() {
    // Nothing listens on port 1: the node starts anyway, says why it is not
    // healthy, and REST calls that need Postgres answer 503.
    let app = TestApp::spawn_cluster(
        1,
        false,
        &["--database-url", "postgres://postgres@127.0.0.1:1/none"],
    )
    .await;
    let (status, report) = health(&app).await;
    assert_eq!(status, 503, "{report}");
    assert_eq!(report["checks"]["postgres"]["ok"], false);
    assert_eq!(report["checks"]["redis"]["ok"], true);
    app.call(
        reqwest::Method::POST,
        "/api/auth/register",
        None,
        Some(serde_json::json!({"username": "alice", "password": "password123"})),
    )
    .await
    .assert_error(503, "unavailable");
}

#[tokio::test]
async fn metrics_count_connections_and_messages() {
    let app = one_message_delivered().await;
    let text = metrics(&app).await;
    for series in [
        "confab_ws_connections",
        "confab_messages_accepted_total",
        "confab_messages_delivered_total",
        "confab_publish_confirm_seconds",
        "confab_delivery_latency_seconds",
        "confab_dispatch_envelopes_total",
        "confab_messages_logged_total",
    ] {
        assert!(
            text.contains(series),
            "{series} missing from /metrics:\n{text}"
        );
    }
}

/// The node's `/metrics` text.
async fn metrics(app: &TestApp) -> String {
    let reply = app.http.get(format!("{}/metrics", app.base)).send().await;
    reply.unwrap().text().await.unwrap()
}

/// A one-node cluster in which alice's message reached bob.
async fn one_message_delivered() -> TestApp {
    let app = TestApp::spawn_cluster(1, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 0, &bob).await;
    a.send_confirmed("m1", to_user(&bob), "hi").await;
    b.next_message().await;
    app
}

/// Every stage of a message's trip is recorded, in the in-process cluster's
/// one registry, as the time since the node read the send. `written` is
/// recorded just after the flush that the client may already have read, so
/// the scrape is repeated until it shows (bounded).
#[tokio::test]
async fn a_message_s_waterfall_has_every_stage() {
    let app = one_message_delivered().await;
    let missing = |text: &str| {
        confab_common::metric::Stage::ALL
            .iter()
            .map(|s| {
                format!(
                    "confab_message_stage_seconds_count{{stage=\"{}\"}}",
                    s.as_str()
                )
            })
            .filter(|series| !text.contains(series.as_str()))
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = metrics(&app).await;
        let gone = missing(&text);
        if gone.is_empty() {
            // The stage buckets are the fine ones (50 µs first).
            assert!(
                text.contains(
                    "confab_message_stage_seconds_bucket{stage=\"claimed\",le=\"0.00005\"}"
                ),
                "{text}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stages never recorded: {gone:?}\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_web_client_is_served_at_the_root_and_nothing_else_of_web() {
    let app = TestApp::spawn().await;
    let page = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("Confab"));
    for path in [
        "/package.json",
        "/node_modules/playwright-core/package.json",
        "/e2e/chat.test.mjs",
    ] {
        let reply = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 404, "{path}");
    }
}
