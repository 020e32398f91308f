//! Limits that slow rather than refuse: a user's sends over the rate are
//! held back (the socket is not read) and all go through; REST requests
//! over a user's rate, sign-ups and log-ins over an address's allowance,
//! and log-ins after repeated failures get 429 with `Retry-After`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Client, PATIENCE, seqs, to_user};
use crate::helpers::TestApp;

#[tokio::test]
async fn pipelined_sends_over_the_rate_are_slowed_and_all_delivered_in_order() {
    let app = TestApp::spawn_cluster(1, true, &["--send-rate", "200", "--send-burst", "20"]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut bobs = Client::connect(&app, 0, &bob).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    // 500 sends written at once, without waiting for any answer.
    for i in 0..500 {
        a.send_message(&format!("m{i}"), to_user(&bob), &format!("{i}"))
            .await;
    }
    for i in 0..500 {
        let answer = a.next_where(|f| f["id"].is_string()).await;
        assert_eq!(
            (answer["type"].as_str(), answer["id"].as_str()),
            (Some("sent"), Some(format!("m{i}").as_str())),
            "{answer}"
        );
    }
    let received = bobs.messages(500).await;
    assert_eq!(seqs(&received), (1..=500).collect::<Vec<_>>());
    let bodies: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    assert_eq!(crate::client::bodies(&received), bodies);
}

#[tokio::test]
async fn a_client_held_back_for_too_long_is_closed() {
    let flags = [
        "--send-rate",
        "2",
        "--send-burst",
        "1",
        "--throttled-close-secs",
        "1",
    ];
    let app = TestApp::spawn_cluster(1, true, &flags).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    // 40 sends at 2/s would take 20 s; held back for over 1 s, it is closed.
    for i in 0..40 {
        a.send_message(&format!("m{i}"), to_user(&bob), "flood")
            .await;
    }
    let mut sent = 0;
    while let Some(frame) = a.next_within(PATIENCE).await {
        if frame["id"].is_string() {
            assert_eq!(frame["type"], "sent", "{frame}");
            sent += 1;
        }
    }
    assert_eq!(a.closed, Some(1008));
    assert!((1..40).contains(&sent), "{sent} sent");
    // What was answered `sent` is stored; nothing more.
    app.eventually(sent, "SELECT count(*) FROM messages").await;
}

/// Sends `request`; its status, `Retry-After` and body.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let reply = TestApp::reply(response).await;
    (reply.status.as_u16(), retry_after, reply.body)
}

/// `GET /api/me` until a 429 comes (at most `tries`); its `Retry-After`
/// and body.
async fn until_limited(app: &TestApp, token: &str, tries: usize) -> Option<(String, Value)> {
    for _ in 0..tries {
        let request = app
            .http
            .get(format!("{}/api/me", app.base))
            .bearer_auth(token);
        let (status, retry_after, body) = answer(request).await;
        if status == 429 {
            return Some((retry_after.expect("Retry-After on a 429"), body));
        }
        assert_eq!(status, 200, "{body}");
    }
    None
}

#[tokio::test]
async fn rest_requests_over_a_users_rate_get_429_with_retry_after() {
    let app = TestApp::spawn_with(&["--rest-rate", "1", "--rest-burst", "5"]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    // At 1/s with a burst of 5, 30 requests in a row cannot all pass.
    let (retry_after, body) = until_limited(&app, &alice.token, 30)
        .await
        .expect("a 429 within 30 requests");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(retry_after.parse::<u64>().unwrap() >= 1);
    // Per user: bob is not slowed by alice.
    app.get("/api/me", &bob).await.expect(200);
}

async fn register_from(
    app: &TestApp,
    name: &str,
    real_ip: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = app
        .http
        .post(format!("{}/api/auth/register", app.base))
        .json(&json!({"username": name, "password": "password123"}));
    if let Some(ip) = real_ip {
        request = request.header("X-Real-IP", ip);
    }
    answer(request).await
}

#[tokio::test]
async fn sign_ups_are_limited_per_client_address() {
    let app = TestApp::spawn_with(&["--register-per-address", "3"]).await;
    // 3 a minute: 8 in a row meet the limit even across a minute's turn.
    let mut limited = None;
    for i in 0..8 {
        let (status, retry_after, body) = register_from(&app, &format!("user{i}"), None).await;
        if status == 429 {
            limited = Some((retry_after, body));
            break;
        }
        assert_eq!(status, 201, "{body}");
    }
    let (retry_after, body) = limited.expect("a 429 within 8 sign-ups");
    assert_eq!(body["error"]["code"], "rate_limited");
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // Behind the gateway (a trusted proxy on loopback), each client's own
    // address counts.
    let (status, _, body) = register_from(&app, "office1", Some("10.1.2.3")).await;
    assert_eq!(status, 201, "{body}");
}

async fn log_in(app: &TestApp, username: &str, password: &str) -> (u16, Option<String>, Value) {
    let request = app
        .http
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"username": username, "password": password}));
    answer(request).await
}

#[tokio::test]
async fn failed_log_ins_make_the_account_wait_longer_each_time() {
    let app = TestApp::spawn_with(&["--login-free-failures", "2"]).await;
    app.register("alice").await;
    app.register("bob").await;
    for _ in 0..3 {
        let (status, _, body) = log_in(&app, "alice", "wrong-password").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
    }
    // The third failure makes the next attempt wait, right password or not.
    let (status, retry_after, body) = log_in(&app, "Alice", "password123").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("login_delayed")),
        "{body}"
    );
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert_eq!(wait, 1);
    // Other accounts are not delayed.
    assert_eq!(log_in(&app, "bob", "password123").await.0, 200);
    // After the wait, the right password works and clears the failures.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, body) = log_in(&app, "alice", "password123").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = log_in(&app, "alice", "wrong-password").await;
    assert_eq!(status, 401);
    assert_eq!(log_in(&app, "alice", "password123").await.0, 200);
    // A fourth failure in a row waits 2 s: shown by Retry-After.
    for _ in 0..3 {
        log_in(&app, "alice", "wrong-password").await;
    }
    let (status, retry_after, _) = log_in(&app, "alice", "wrong-password").await;
    assert_eq!(status, 429);
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
}
