//! `GET /api/limits`: what it reports is what the server enforces, and a
//! node's own setting (`WS_MAX_BODY_CHARS`) is reported as configured.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// `GET /api/limits` without a token: the body, and its `Cache-Control`.
async fn limits(app: &TestApp) -> (Value, String) {
    let response = app
        .http
        .get(format!("{}/api/limits", app.base))
        .send()
        .await
        .unwrap();
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    (TestApp::reply(response).await.expect(200), cache)
}

#[tokio::test]
async fn the_limits_are_public_and_report_the_configured_body_length() {
    let app = TestApp::spawn().await;
    let (body, cache) = limits(&app).await;
    assert_eq!(cache, "public, max-age=300");
    assert_eq!(
        body,
        json!({
            "message_body_chars": 4000,
            "username_chars": {"min": 3, "max": 32},
            "password_chars": {"min": 8, "max": 128},
            "display_name_chars": 64,
            "bio_chars": 500,
            "avatar_url_chars": 2048,
            "search_chars": 32,
            "group_name_chars": 64,
        })
    );
    let other = TestApp::spawn_with(&["--max-body-chars", "123"]).await;
    let (body, _) = limits(&other).await;
    assert_eq!(body["message_body_chars"], 123);
}

/// Makes a text of the length given.
type Text = fn(u64) -> String;

/// `n` characters, none of them ASCII: the limits count characters, not bytes.
fn chars(n: u64) -> String {
    "é".repeat(usize::try_from(n).unwrap())
}

#[tokio::test]
async fn each_reported_length_is_the_one_enforced() {
    let app = TestApp::spawn().await;
    let (l, _) = limits(&app).await;
    let n = |v: &Value| v.as_u64().unwrap();
    let register = |username: String, password: String| {
        let app = &app;
        async move {
            let body = json!({"username": username, "password": password});
            app.call(Method::POST, "/api/auth/register", None, Some(body))
                .await
        }
    };
    let (name, pass) = (&l["username_chars"], &l["password_chars"]);
    let ok = |len: u64| "u".repeat(usize::try_from(len).unwrap());
    register(ok(n(&name["max"])), chars(n(&pass["max"])))
        .await
        .expect(201);
    register(ok(n(&name["min"])), chars(n(&pass["min"])))
        .await
        .expect(201);
    for (username, password, code) in [
        (ok(n(&name["max"]) + 1), chars(8), "invalid_username"),
        (ok(n(&name["min"]) - 1), chars(8), "invalid_username"),
        (
            "valid".to_owned(),
            chars(n(&pass["max"]) + 1),
            "weak_password",
        ),
        (
            "valid".to_owned(),
            chars(n(&pass["min"]) - 1),
            "weak_password",
        ),
    ] {
        register(username, password).await.assert_error(422, code);
    }

    let alice = app.register("alice").await;
    // An absolute URL of exactly `len` characters.
    let avatar = |len: u64| {
        let base = "https://example.com/";
        format!("{base}{}", chars(len - base.len() as u64))
    };
    let fields: [(&str, u64, Text, &str); 3] = [
        (
            "display_name",
            n(&l["display_name_chars"]),
            chars,
            "invalid_display_name",
        ),
        ("bio", n(&l["bio_chars"]), chars, "invalid_bio"),
        (
            "avatar_url",
            n(&l["avatar_url_chars"]),
            avatar,
            "invalid_avatar_url",
        ),
    ];
    for (field, max, value, code) in fields {
        app.patch("/api/me", &alice, json!({ field: value(max) }))
            .await
            .expect(200);
        app.patch("/api/me", &alice, json!({ field: value(max + 1) }))
            .await
            .assert_error(422, code);
    }

    let group = n(&l["group_name_chars"]);
    for (len, status) in [(group, 201), (group + 1, 422)] {
        let body = json!({"name": chars(len), "member_ids": []});
        let reply = app.post("/api/groups", &alice, body).await;
        assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    }

    // A leading `@` is not counted.
    let search = n(&l["search_chars"]);
    for (query, status) in [
        (format!("@{}", chars(search)), 200),
        (chars(search + 1), 422),
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let reply = app
            .get(&format!("/api/users?search={encoded}"), &alice)
            .await;
        assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    }
}
