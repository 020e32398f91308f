//! Bad input on a live socket: each gets the contract's answer, and the
//! connection keeps working (except for an oversized frame, which closes it
//! with 1009).

use std::time::Duration;

use serde_json::json;

use crate::client::{Client, to_user};
use crate::helpers::TestApp;

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_keeps_working() {
    let app = TestApp::spawn_cluster(1, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut a = Client::connect(&app, 0, &alice).await;

    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("not json".to_owned(), None, "invalid_frame"),
        ("{\"type\":".to_owned(), None, "invalid_frame"),
        (json!({"type": "shout"}).to_string(), None, "invalid_frame"),
        (json!({"id": "x1"}).to_string(), Some("x1"), "invalid_frame"),
        (
            json!({"type": "send", "id": "x2"}).to_string(),
            Some("x2"),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "x3", "to": {"user": "7"}, "body": "hi"}).to_string(),
            Some("x3"),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "x4", "to": {"user": bob.id.0}, "body": 7}).to_string(),
            Some("x4"),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "x5", "to": {"planet": 1}, "body": "hi"}).to_string(),
            Some("x5"),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "", "to": {"user": bob.id.0}, "body": "hi"}).to_string(),
            None,
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "i".repeat(65), "to": {"user": bob.id.0}, "body": "hi"})
                .to_string(),
            None,
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "x6", "to": {"user": bob.id.0}, "body": ""}).to_string(),
            Some("x6"),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "x7", "to": {"user": bob.id.0}, "body": "b".repeat(4001)})
                .to_string(),
            Some("x7"),
            "too_large",
        ),
        (
            json!({"type": "ack", "msg_ids": [1, 2]}).to_string(),
            None,
            "invalid_frame",
        ),
        (
            json!({"type": "ack", "msg_ids": ["-5"]}).to_string(),
            None,
            "invalid_frame",
        ),
        (
            json!({"type": "send", "id": "x8", "to": {"user": 1e30}, "body": "hi"}).to_string(),
            Some("x8"),
            "invalid_frame",
        ),
        ("[]".to_owned(), None, "invalid_frame"),
        ("null".to_owned(), None, "invalid_frame"),
    ];
    for (frame, id, code) in cases {
        a.send_text(&frame).await;
        let error = a.next().await;
        assert_eq!(error["type"], "error", "{frame} → {error}");
        assert_eq!(error["code"], code, "{frame} → {error}");
        assert_eq!(error["id"], json!(id), "{frame} → {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    a.send_binary(vec![0, 159, 146, 150]).await;
    let error = a.next().await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("invalid_frame"))
    );

    // Exactly 4,000 characters is fine, and the socket still works.
    let body = "é".repeat(4000);
    a.send_confirmed("ok", to_user(&bob), &body).await;
    app.eventually(1, "SELECT count(*) FROM messages").await;

    // A frame over 64 KiB closes the connection with 1009.
    a.send_text(&format!(
        "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
        "p".repeat(70 * 1024)
    ))
    .await;
    assert_eq!(a.closed_with().await, 1009);
}

#[tokio::test]
async fn repeated_abuse_closes_the_connection_with_1008() {
    let app = TestApp::spawn_cluster(1, false, &["--max-invalid-frames", "3"]).await;
    let alice = app.register("alice").await;
    let mut a = Client::connect(&app, 0, &alice).await;
    for _ in 0..4 {
        a.send_text("garbage").await;
    }
    assert_eq!(a.closed_with().await, 1008);
    let _ = Duration::ZERO;
}
