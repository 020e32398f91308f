//! What the server pushes without being asked: social events after REST
//! changes, and friends' presence.

use confab_common::NodeId;
use confab_common::presence::ConnKey;
use serde_json::{Value, json};

use crate::client::Client;
use crate::helpers::{TestApp, TestUser};

/// The next `event` frame of `kind`.
async fn event(client: &mut Client, kind: &str) -> Value {
    client
        .next_where(|f| f["type"] == "event" && f["kind"] == kind)
        .await
}

/// The next `presence` frame about `user`.
async fn presence(client: &mut Client, user: &TestUser) -> bool {
    let frame = client
        .next_where(|f| f["type"] == "presence" && f["user"] == user.id.0)
        .await;
    frame["online"].as_bool().unwrap()
}

#[tokio::test]
async fn friend_requests_answers_and_removals_are_pushed_with_profiles() {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    a.round_trip().await;
    b.round_trip().await;

    let request = app
        .post(
            "/api/friends/requests",
            &alice,
            json!({"user_id": bob.id.0}),
        )
        .await
        .expect(201);
    assert_eq!(request["from_user"]["username"], "alice");
    assert_eq!(request["to_user"]["username"], "bob");
    let pushed = event(&mut b, "friend_request").await;
    assert_eq!(pushed["request"], request);
    let listed = app.get("/api/friends/requests", &bob).await.expect(200);
    assert_eq!(listed["incoming"][0], request);

    let id = request["id"].as_i64().unwrap();
    app.post(
        &format!("/api/friends/requests/{id}/accept"),
        &bob,
        json!({}),
    )
    .await
    .expect(200);
    let answered = event(&mut a, "friend_request_answered").await;
    assert_eq!(answered["request"]["status"], "accepted");
    assert_eq!(answered["request"]["to_user"]["username"], "bob");

    app.delete(&format!("/api/friends/{}", alice.id), &bob)
        .await
        .expect(204);
    assert_eq!(event(&mut a, "friend_removed").await["user_id"], bob.id.0);
    assert_eq!(event(&mut b, "friend_removed").await["user_id"], alice.id.0);

    // A declined request is pushed to the requester too.
    let again = app
        .post(
            "/api/friends/requests",
            &bob,
            json!({"user_id": alice.id.0}),
        )
        .await
        .expect(201);
    let id = again["id"].as_i64().unwrap();
    app.post(
        &format!("/api/friends/requests/{id}/decline"),
        &alice,
        json!({}),
    )
    .await
    .expect(204);
    // (Bob's devices were told of the first answer too: the one about
    // this request is the one that counts.)
    let declined = b
        .next_where(|f| f["kind"] == "friend_request_answered" && f["request"]["id"] == id)
        .await;
    assert_eq!(declined["request"]["status"], "declined");
}

#[tokio::test]
async fn every_group_change_is_pushed_to_those_it_concerns() {
    let app = TestApp::spawn_cluster(1, true, &[]).await;
    let owner = app.register("owner").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.befriend(&owner, &bob).await;
    app.befriend(&owner, &carol).await;
    let mut o = Client::connect(&app, 0, &owner).await;
    let mut b = Client::connect(&app, 0, &bob).await;
    let mut c = Client::connect(&app, 0, &carol).await;
    for client in [&mut o, &mut b, &mut c] {
        client.round_trip().await;
    }

    let group = app.create_group(&owner, "team", &[&bob]).await;
    let added = event(&mut b, "group_added").await;
    assert_eq!(added["group"]["name"], "team");
    assert_eq!(added["group"]["members"].as_array().unwrap().len(), 2);

    app.post(
        &format!("/api/groups/{group}/members"),
        &owner,
        json!({"user_ids": [carol.id.0]}),
    )
    .await
    .expect(200);
    assert_eq!(event(&mut c, "group_added").await["group"]["id"], group);
    let member_added = event(&mut b, "member_added").await;
    assert_eq!(member_added["user_ids"], json!([carol.id.0]));

    app.patch(
        &format!("/api/groups/{group}"),
        &owner,
        json!({"name": "crew"}),
    )
    .await
    .expect(200);
    for client in [&mut b, &mut c] {
        let renamed = event(client, "group_renamed").await;
        assert_eq!(
            (renamed["group_id"].clone(), renamed["name"].clone()),
            (json!(group), json!("crew"))
        );
    }

    app.patch(
        &format!("/api/groups/{group}/members/{}", bob.id),
        &owner,
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    let role = event(&mut c, "role_changed").await;
    assert_eq!(
        (role["user_id"].clone(), role["role"].clone()),
        (json!(bob.id.0), json!("admin"))
    );

    app.delete(&format!("/api/groups/{group}/members/{}", carol.id), &owner)
        .await
        .expect(204);
    assert_eq!(event(&mut c, "group_removed").await["group_id"], group);
    assert_eq!(event(&mut b, "member_removed").await["user_id"], carol.id.0);

    app.delete(&format!("/api/groups/{group}"), &owner)
        .await
        .expect(204);
    assert_eq!(event(&mut b, "group_disbanded").await["group_id"], group);
    assert_eq!(event(&mut o, "group_disbanded").await["group_id"], group);
}

#[tokio::test]
async fn friends_see_the_first_device_come_and_the_last_one_go() {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut b = Client::connect(&app, 0, &bob).await;
    b.round_trip().await;

    let mut phone = Client::connect_device(&app, 1, &alice, "phone").await;
    phone.round_trip().await;
    assert!(presence(&mut b, &alice).await);
    // A second device changes nothing; only the last one leaving does.
    let mut laptop = Client::connect_device(&app, 0, &alice, "laptop").await;
    laptop.round_trip().await;
    phone.close().await;
    laptop.round_trip().await;
    laptop.close().await;
    assert!(!presence(&mut b, &alice).await);
    // In between, nothing else was said about alice.
    assert!(
        !b.backlog_has(|f| f["type"] == "presence"),
        "an extra presence frame"
    );
}

#[tokio::test]
async fn users_of_a_node_that_died_go_offline_for_their_friends() {
    let app = TestApp::spawn_cluster(1, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut b = Client::connect(&app, 0, &bob).await;
    b.round_trip().await;
    // Alice is connected to a node process that then dies without closing
    // anything: its record lapses, and a dispatcher reaps it.
    let (node, incarnation) = (NodeId(999), 7);
    app.presence.heartbeat(node, incarnation).await.unwrap();
    let conn = ConnKey {
        node,
        incarnation,
        conn: 1,
    };
    assert!(app.presence.connect(alice.id, conn).await.unwrap());
    let online = app.get("/api/friends", &bob).await.expect(200);
    assert_eq!(online[0]["online"], true);
    app.let_node_lapse(node, incarnation).await;
    assert!(!presence(&mut b, &alice).await);
}
