//! Friend requests and friendships, including the authorization negatives.

use serde_json::json;

use crate::helpers::{TestApp, concurrently};

#[tokio::test]
async fn a_request_accepted_makes_both_friends() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let request = app
        .post(
            "/api/friends/requests",
            &alice,
            json!({"user_id": bob.id.0}),
        )
        .await
        .expect(201);
    assert_eq!(request["from"], alice.id.0);
    assert_eq!(request["to"], bob.id.0);
    assert_eq!(request["status"], "pending");
    assert!(request["created_at"].is_i64());

    let bobs = app.get("/api/friends/requests", &bob).await.expect(200);
    assert_eq!(bobs["incoming"], json!([request.clone()]));
    assert_eq!(bobs["outgoing"], json!([]));
    let alices = app.get("/api/friends/requests", &alice).await.expect(200);
    assert_eq!(alices["outgoing"], json!([request.clone()]));

    app.set_online(&alice).await;
    let id = request["id"].as_i64().unwrap();
    let accepted = app
        .post(
            &format!("/api/friends/requests/{id}/accept"),
            &bob,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(accepted["user"]["id"], alice.id.0);
    assert_eq!(accepted["online"], true);

    let friends_of_alice = app.get("/api/friends", &alice).await.expect(200);
    assert_eq!(friends_of_alice[0]["user"]["id"], bob.id.0);
    assert_eq!(friends_of_alice[0]["online"], false);
    let friends_of_bob = app.get("/api/friends", &bob).await.expect(200);
    assert_eq!(friends_of_bob[0]["user"]["id"], alice.id.0);
    assert_eq!(friends_of_bob[0]["online"], true);
    assert_eq!(
        app.get("/api/friends/requests", &bob).await.expect(200)["incoming"],
        json!([])
    );
    assert_eq!(app.count("SELECT count(*) FROM friendships").await, 1);
}

#[tokio::test]
async fn only_the_addressee_answers_a_request() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let request = app
        .post(
            "/api/friends/requests",
            &alice,
            json!({"user_id": bob.id.0}),
        )
        .await
        .expect(201);
    let id = request["id"].as_i64().unwrap();
    for who in [&alice, &eve] {
        for verb in ["accept", "decline"] {
            app.post(
                &format!("/api/friends/requests/{id}/{verb}"),
                who,
                json!({}),
            )
            .await
            .assert_error(403, "not_addressee");
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM friendships").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM friend_requests WHERE status = 'pending'")
            .await,
        1
    );
    app.post("/api/friends/requests/424242/accept", &bob, json!({}))
        .await
        .assert_error(404, "no_such_request");
}

#[tokio::test]
async fn a_request_is_answered_once() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let request = app
        .post(
            "/api/friends/requests",
            &alice,
            json!({"user_id": bob.id.0}),
        )
        .await
        .expect(201);
    let id = request["id"].as_i64().unwrap();
    let declined = app
        .post(
            &format!("/api/friends/requests/{id}/decline"),
            &bob,
            json!({}),
        )
        .await;
    assert_eq!(declined.status.as_u16(), 204);
    for verb in ["accept", "decline"] {
        app.post(
            &format!("/api/friends/requests/{id}/{verb}"),
            &bob,
            json!({}),
        )
        .await
        .assert_error(409, "request_not_pending");
    }
    assert_eq!(app.count("SELECT count(*) FROM friendships").await, 0);
    // After a decline, asking again is allowed.
    app.post(
        "/api/friends/requests",
        &alice,
        json!({"user_id": bob.id.0}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn requests_that_make_no_sense_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.post(
        "/api/friends/requests",
        &alice,
        json!({"user_id": alice.id.0}),
    )
    .await
    .assert_error(422, "cannot_befriend_self");
    app.post("/api/friends/requests", &alice, json!({"user_id": 987654}))
        .await
        .assert_error(404, "no_such_user");
    app.post("/api/friends/requests", &alice, json!({"user_id": "2"}))
        .await
        .assert_error(422, "invalid_field");
    app.post(
        "/api/friends/requests",
        &alice,
        json!({"user_id": bob.id.0}),
    )
    .await
    .expect(201);
    app.post(
        "/api/friends/requests",
        &alice,
        json!({"user_id": bob.id.0}),
    )
    .await
    .assert_error(409, "request_pending");
    // The other way round while one is pending.
    app.post(
        "/api/friends/requests",
        &bob,
        json!({"user_id": alice.id.0}),
    )
    .await
    .assert_error(409, "request_pending");
    assert_eq!(app.count("SELECT count(*) FROM friend_requests").await, 1);

    let carol = app.register("carol").await;
    app.befriend(&alice, &carol).await;
    for (from, to) in [(&alice, &carol), (&carol, &alice)] {
        app.post("/api/friends/requests", from, json!({"user_id": to.id.0}))
            .await
            .assert_error(409, "already_friends");
    }
}

#[tokio::test]
async fn simultaneous_mutual_requests_leave_one_pending() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (http, base) = (app.http.clone(), app.base.clone());
    let statuses = concurrently(6, |i| {
        let (http, base) = (http.clone(), base.clone());
        let (from, to) = if i % 2 == 0 {
            (alice.clone(), bob.clone())
        } else {
            (bob.clone(), alice.clone())
        };
        async move {
            http.post(format!("{base}/api/friends/requests"))
                .bearer_auth(from.token)
                .json(&json!({"user_id": to.id.0}))
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
    assert_eq!(app.count("SELECT count(*) FROM friend_requests").await, 1);
}

#[tokio::test]
async fn removing_a_friend_ends_it_for_both() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    app.befriend(&alice, &bob).await;
    app.delete(&format!("/api/friends/{}", eve.id), &alice)
        .await
        .assert_error(404, "no_such_friend");
    let reply = app
        .delete(&format!("/api/friends/{}", alice.id), &bob)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    assert_eq!(app.get("/api/friends", &alice).await.expect(200), json!([]));
    assert_eq!(app.get("/api/friends", &bob).await.expect(200), json!([]));
    app.delete(&format!("/api/friends/{}", bob.id), &alice)
        .await
        .assert_error(404, "no_such_friend");
    // And they can become friends again.
    app.befriend(&bob, &alice).await;
}
