//! The "done when": a client written from docs/protocol.md registers,
//! logs in, edits its profile, befriends another user, creates a group with
//! them and reads the group's details with roles and online flags.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_client_can_do_the_whole_social_flow() {
    let app = TestApp::spawn().await;
    let register = |name: &'static str| {
        app.call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": name, "password": "correct horse", "display_name": name.to_uppercase()})),
        )
    };
    register("ann").await.expect(201);
    register("ben").await.expect(201);
    let login = |name: &'static str| {
        app.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": name, "password": "correct horse"})),
        )
    };
    let ann = login("ann").await.expect(200);
    let ben = login("ben").await.expect(200);
    let (ann_token, ben_token) = (
        ann["token"].as_str().unwrap(),
        ben["token"].as_str().unwrap(),
    );
    let ben_id = ben["user"]["id"].as_i64().unwrap();

    app.call(
        Method::PATCH,
        "/api/me",
        Some(ann_token),
        Some(json!({"bio": "hello"})),
    )
    .await
    .expect(200);
    let found = app
        .call(Method::GET, "/api/users?search=be", Some(ann_token), None)
        .await
        .expect(200);
    assert_eq!(found[0]["id"], ben_id);

    let request = app
        .call(
            Method::POST,
            "/api/friends/requests",
            Some(ann_token),
            Some(json!({"user_id": ben_id})),
        )
        .await
        .expect(201);
    let incoming = app
        .call(Method::GET, "/api/friends/requests", Some(ben_token), None)
        .await
        .expect(200);
    assert_eq!(incoming["incoming"][0]["id"], request["id"]);
    app.call(
        Method::POST,
        &format!("/api/friends/requests/{}/accept", request["id"]),
        Some(ben_token),
        None,
    )
    .await
    .expect(200);

    let group = app
        .call(
            Method::POST,
            "/api/groups",
            Some(ann_token),
            Some(json!({"name": "Pair", "member_ids": [ben_id]})),
        )
        .await
        .expect(201);
    let details = app
        .call(
            Method::GET,
            &format!("/api/groups/{}", group["id"]),
            Some(ben_token),
            None,
        )
        .await
        .expect(200);
    assert_eq!(details["members"][0]["role"], "owner");
    assert_eq!(details["members"][0]["user"]["display_name"], "ANN");
    assert_eq!(details["members"][0]["user"]["bio"], "hello");
    assert_eq!(details["members"][1]["role"], "member");
    assert_eq!(details["members"][0]["online"], false);
    assert_eq!(details["members"][1]["online"], false);
}
