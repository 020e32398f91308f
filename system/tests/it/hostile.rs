//! Bodies and paths the API must refuse in its own error shape, without
//! changing anything.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn malformed_bodies_get_the_contracts_errors() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/auth/register", app.base);
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.http.post(url.clone()).body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    let json_ct = Some("application/json");
    send("{\"username\":", json_ct)
        .await
        .assert_error(400, "malformed_body");
    send("not json at all", json_ct)
        .await
        .assert_error(400, "malformed_body");
    send("", json_ct).await.assert_error(400, "malformed_body");
    send(r#"{"username":"alice","password":"password123"}"#, None)
        .await
        .assert_error(415, "unsupported_media_type");
    send(
        r#"{"username":"alice","password":"password123"}"#,
        Some("text/plain"),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    send(r#"{"username":12,"password":"password123"}"#, json_ct)
        .await
        .assert_error(422, "invalid_field");
    send(r#"{"password":"password123"}"#, json_ct)
        .await
        .assert_error(422, "invalid_field");
    send(
        r#"{"username":"alice","password":"password123","id":1}"#,
        json_ct,
    )
    .await
    .assert_error(422, "invalid_field");
    send(r#"[1,2,3]"#, json_ct)
        .await
        .assert_error(422, "invalid_field");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let huge = "x".repeat(1024 * 1024);
    app.patch("/api/me", &alice, json!({"bio": huge}))
        .await
        .assert_error(413, "too_large");
    let reply = app
        .http
        .post(format!("{}/api/auth/register", app.base))
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"username":"bob","password":"{huge}"}}"#))
        .send()
        .await
        .unwrap();
    TestApp::reply(reply).await.assert_error(413, "too_large");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.get("/api/nope", &alice)
        .await
        .assert_error(404, "not_found");
    app.call(Method::PUT, "/api/me", Some(&alice.token), Some(json!({})))
        .await
        .assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_400() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for path in [
        "/api/users/abc",
        "/api/users/99999999999999999999",
        "/api/groups/1.5",
    ] {
        app.get(path, &alice)
            .await
            .assert_error(400, "invalid_path");
    }
    app.get("/api/users?search=al&limit=-1", &alice)
        .await
        .assert_error(400, "invalid_query");
    app.get("/api/users", &alice)
        .await
        .assert_error(400, "invalid_query");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let reply = app
        .http
        .post(format!("{}/api/auth/login", app.base))
        .header("Content-Type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    let reply = TestApp::reply(reply).await;
    assert!(matches!(reply.status.as_u16(), 400 | 422), "{reply:?}");
    // Still serving.
    app.register("alice").await;
}

#[tokio::test]
async fn nul_and_control_characters_never_reach_postgres_as_errors() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.call(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "ali\u{0}ce", "password": "password123"})),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.call(
        Method::POST,
        "/api/auth/register",
        None,
        Some(json!({"username": "nul\u{0}", "password": "password123"})),
    )
    .await
    .assert_error(422, "invalid_username");
    app.get("/api/users?search=a%00", &alice)
        .await
        .assert_error(422, "invalid_search");
    app.post("/api/groups", &alice, json!({"name": "g\u{0}"}))
        .await
        .assert_error(422, "invalid_name");
    assert_eq!(app.count("SELECT count(*) FROM groups").await, 0);
}

#[tokio::test]
async fn odd_numbers_ids_and_bytes_are_answered_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    // Invalid UTF-8 in a JSON body.
    let reply = app
        .http
        .patch(format!("{}/api/me", app.base))
        .bearer_auth(&alice.token)
        .header("Content-Type", "application/json")
        .body(vec![
            b'{', b'"', b'b', b'i', b'o', b'"', b':', b'"', 0xff, 0xfe, b'"', b'}',
        ])
        .send()
        .await
        .unwrap();
    let reply = TestApp::reply(reply).await;
    assert!(matches!(reply.status.as_u16(), 400 | 422), "{reply:?}");
    for body in [
        json!({"user_id": 1e30}),
        json!({"user_id": 18446744073709551616u128 as f64}),
        json!({"user_id": -1.5}),
        json!({"user_id": null}),
        json!({"user_id": [1]}),
    ] {
        app.post("/api/friends/requests", &alice, body)
            .await
            .assert_error(422, "invalid_field");
    }
    for id in [-1, 0, i64::MAX] {
        app.post("/api/friends/requests", &alice, json!({"user_id": id}))
            .await
            .assert_error(404, "no_such_user");
        app.get(&format!("/api/groups/{id}"), &alice)
            .await
            .assert_error(404, "no_such_group");
    }
    app.post(
        "/api/groups",
        &alice,
        json!({"name": "g", "member_ids": [-5, i64::MAX]}),
    )
    .await
    .assert_error(403, "not_friends");
    // SQL metacharacters in strings are data.
    let found = app
        .get("/api/users?search=%27%20OR%201%3D1--", &alice)
        .await
        .expect(200);
    assert_eq!(found, json!([]));
    let group = app
        .post(
            "/api/groups",
            &alice,
            json!({"name": "'; DROP TABLE groups;--"}),
        )
        .await
        .expect(201);
    assert_eq!(group["name"], "'; DROP TABLE groups;--");
    assert_eq!(app.count("SELECT count(*) FROM friend_requests").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM groups").await, 1);
}

#[tokio::test]
async fn a_token_of_a_deleted_account_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.count(&format!(
        "WITH gone AS (DELETE FROM users WHERE id = {} RETURNING 1) SELECT count(*) FROM gone",
        alice.id
    ))
    .await;
    app.get("/api/me", &alice)
        .await
        .assert_error(401, "invalid_token");
}
