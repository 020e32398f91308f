//! Registration and log-in.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, concurrently};

#[tokio::test]
async fn register_returns_a_working_token_and_the_profile() {
    let app = TestApp::spawn().await;
    let reply = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(
                json!({"username": "alice", "password": "password123", "display_name": "Alice A."}),
            ),
        )
        .await;
    let body = reply.expect(201);
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["display_name"], "Alice A.");
    assert!(body["user"]["bio"].is_null());
    assert!(body["user"]["avatar_url"].is_null());
    assert!(
        body["user"]["created_at"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    assert!(body["user"].get("password_hash").is_none());

    let token = body["token"].as_str().unwrap();
    let me = app
        .call(Method::GET, "/api/me", Some(token), None)
        .await
        .expect(200);
    assert_eq!(me, body["user"]);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let hashes = app
        .count("SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$%' AND password_hash NOT LIKE '%password123%'")
        .await;
    assert_eq!(hashes, 1);
}

#[tokio::test]
async fn the_display_name_defaults_to_the_username() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(
        app.get("/api/me", &alice).await.expect(200)["display_name"],
        "alice"
    );
}

#[tokio::test]
async fn a_taken_username_is_refused_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    for name in ["alice", "ALICE", "Alice"] {
        app.call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": name, "password": "password123"})),
        )
        .await
        .assert_error(409, "username_taken");
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn a_concurrent_double_registration_creates_one_account() {
    let app = TestApp::spawn().await;
    let http = app.http.clone();
    let url = format!("{}/api/auth/register", app.base);
    let statuses = concurrently(8, |_| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(url)
                .json(&json!({"username": "racer", "password": "password123"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn invalid_usernames_and_weak_passwords_are_refused() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(33);
    for name in [
        "ab",
        long.as_str(),
        "has space",
        "émile",
        "semi;colon",
        "<script>",
        "a'b",
        "",
    ] {
        app.call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": name, "password": "password123"})),
        )
        .await
        .assert_error(422, "invalid_username");
    }
    let long = "p".repeat(129);
    for password in ["short", "1234567", long.as_str()] {
        app.call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": "bob", "password": password})),
        )
        .await
        .assert_error(422, "weak_password");
    }
    // Limits are inclusive, and counted in characters.
    for (name, password) in [
        ("abc", "p".repeat(128)),
        ("a.b-c_D9", "ééééééé1".to_owned()),
    ] {
        app.call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": name, "password": password})),
        )
        .await
        .expect(201);
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 2);
}

#[tokio::test]
async fn login_works_with_the_right_password_only() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let body = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "Alice", "password": "password123"})),
        )
        .await
        .expect(200);
    assert_eq!(body["user"]["id"], alice.id.0);
    let token = body["token"].as_str().unwrap();
    app.call(Method::GET, "/api/me", Some(token), None)
        .await
        .expect(200);

    let wrong = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "alice", "password": "password124"})),
        )
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "password123"})),
        )
        .await;
    wrong.assert_error(401, "invalid_credentials");
    // Same answer, so that log-in does not tell which usernames exist.
    assert_eq!(wrong.body, unknown.body);
}
