//! The caller's own profile and password.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_profile_can_be_edited_and_cleared() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let edited = app
        .patch(
            "/api/me",
            &alice,
            json!({"display_name": "  Alice Liddell ", "bio": "Down the rabbit hole", "avatar_url": "https://example.com/a.png"}),
        )
        .await
        .expect(200);
    assert_eq!(edited["display_name"], "Alice Liddell");
    assert_eq!(edited["bio"], "Down the rabbit hole");
    assert_eq!(edited["avatar_url"], "https://example.com/a.png");
    assert_eq!(app.get("/api/me", &alice).await.expect(200), edited);

    // Absent fields stay; null and "" clear.
    let cleared = app
        .patch("/api/me", &alice, json!({"bio": null, "avatar_url": ""}))
        .await
        .expect(200);
    assert_eq!(cleared["display_name"], "Alice Liddell");
    assert!(cleared["bio"].is_null());
    assert!(cleared["avatar_url"].is_null());

    // An empty patch changes nothing and still answers the profile.
    assert_eq!(
        app.patch("/api/me", &alice, json!({})).await.expect(200),
        cleared
    );
}

#[tokio::test]
async fn invalid_profile_fields_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let before = app.get("/api/me", &alice).await.expect(200);
    let long_bio = "b".repeat(501);
    let long_name = "n".repeat(65);
    let long_url = format!("https://example.com/{}", "u".repeat(2048));
    let cases = [
        (json!({"display_name": ""}), "invalid_display_name"),
        (json!({"display_name": "   "}), "invalid_display_name"),
        (json!({"display_name": long_name}), "invalid_display_name"),
        (json!({"display_name": "bell\u{7}"}), "invalid_display_name"),
        (json!({"display_name": null}), "invalid_display_name"),
        (
            json!({"display_name": "ok", "bio": long_bio}),
            "invalid_bio",
        ),
        (json!({"bio": "nul \u{0} byte"}), "invalid_bio"),
        (
            json!({"avatar_url": "https://example.com/\u{0}"}),
            "invalid_avatar_url",
        ),
        (
            json!({"display_name": "ok", "avatar_url": "javascript:alert(1)"}),
            "invalid_avatar_url",
        ),
        (json!({"avatar_url": "not a url"}), "invalid_avatar_url"),
        (json!({"avatar_url": "/relative.png"}), "invalid_avatar_url"),
        (json!({"avatar_url": long_url}), "invalid_avatar_url"),
        (json!({"bio": 42}), "invalid_field"),
        (json!({"username": "mallory"}), "invalid_field"),
    ];
    for (patch, code) in cases {
        app.patch("/api/me", &alice, patch)
            .await
            .assert_error(422, code);
    }
    assert_eq!(app.get("/api/me", &alice).await.expect(200), before);
}

#[tokio::test]
async fn metacharacters_are_stored_verbatim() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let name = "Robert'); DROP TABLE users;--";
    let bio = "<script>alert('x')</script> & \"quotes\" \u{202e} 🦀 \n second line";
    let edited = app
        .patch("/api/me", &alice, json!({"display_name": name, "bio": bio}))
        .await
        .expect(200);
    assert_eq!(edited["display_name"], name);
    assert_eq!(edited["bio"], bio);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn the_password_changes_only_with_the_current_one() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.post(
        "/api/me/password",
        &alice,
        json!({"old_password": "wrong-password", "new_password": "new-password-1"}),
    )
    .await
    .assert_error(403, "wrong_password");
    app.post(
        "/api/me/password",
        &alice,
        json!({"old_password": "password123", "new_password": "short"}),
    )
    .await
    .assert_error(422, "weak_password");

    let login = |password: &'static str| {
        app.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "alice", "password": password})),
        )
    };
    login("password123").await.expect(200);

    let reply = app
        .post(
            "/api/me/password",
            &alice,
            json!({"old_password": "password123", "new_password": "new-password-1"}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    login("password123")
        .await
        .assert_error(401, "invalid_credentials");
    login("new-password-1").await.expect(200);
}
