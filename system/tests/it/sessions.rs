//! Sessions: log-out, log-out everywhere, a password change and a deleted
//! account revoke tokens on every node and close their sockets (4401);
//! WebSocket tickets are single-use and bound to their session.

use reqwest::Method;
use serde_json::json;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;

use crate::client::{Client, offering, refused, refused_request, ticket_protocol_request, to_user};
use crate::helpers::{TestApp, TestUser};

/// Logs `user` in again: a second session.
async fn log_in(app: &TestApp, user: &TestUser, password: &str) -> TestUser {
    let body = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": user.username, "password": password})),
        )
        .await
        .expect(200);
    TestUser {
        token: body["token"].as_str().unwrap().to_owned(),
        ..user.clone()
    }
}

/// `GET /api/me` on node `node` with `user`'s token: the status and code.
async fn me_on(app: &TestApp, node: usize, user: &TestUser) -> (u16, String) {
    let response = app
        .http
        .get(format!("{}/api/me", app.nodes[node].base))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let reply = TestApp::reply(response).await;
    (reply.status.as_u16(), reply.code().to_owned())
}

#[tokio::test]
async fn log_out_revokes_this_session_on_every_node_and_closes_its_sockets() {
    let app = TestApp::spawn_cluster(2, false, &[]).await;
    let alice = app.register("alice").await;
    let phone = log_in(&app, &alice, "password123").await;
    let mut here = Client::connect(&app, 0, &alice).await;
    let mut there = Client::connect(&app, 1, &alice).await;
    let mut other_session = Client::connect(&app, 1, &phone).await;
    here.round_trip().await;
    there.round_trip().await;

    app.post("/api/auth/logout", &alice, json!({}))
        .await
        .expect(204);
    assert_eq!(here.closed_with().await, 4401);
    assert_eq!(there.closed_with().await, 4401);
    for node in 0..2 {
        assert_eq!(
            me_on(&app, node, &alice).await,
            (401, "token_revoked".into())
        );
        assert_eq!(me_on(&app, node, &phone).await.0, 200);
        let url = format!("ws://{}/ws", app.nodes[node].addr);
        let (status, body) = refused(&url, Some(&alice.token)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("token_revoked"))
        );
    }
    // The other session is untouched, socket included.
    other_session.round_trip().await;
    // A node started afterwards reads the revocation from Postgres.
    let mut app = app;
    let late = app.add_node().await;
    assert_eq!(
        me_on(&app, late, &alice).await,
        (401, "token_revoked".into())
    );
    assert_eq!(me_on(&app, late, &phone).await.0, 200);
}

#[tokio::test]
async fn a_password_change_keeps_only_this_session_and_log_out_all_ends_every_one() {
    let app = TestApp::spawn_cluster(2, false, &[]).await;
    let alice = app.register("alice").await;
    let laptop = log_in(&app, &alice, "password123").await;
    let stolen = log_in(&app, &alice, "password123").await;
    let mut thief = Client::connect(&app, 1, &stolen).await;
    let mut mine = Client::connect(&app, 0, &laptop).await;
    thief.round_trip().await;

    app.post(
        "/api/me/password",
        &laptop,
        json!({"old_password": "password123", "new_password": "a-new-password"}),
    )
    .await
    .expect(204);
    assert_eq!(thief.closed_with().await, 4401);
    assert_eq!(me_on(&app, 1, &stolen).await, (401, "token_revoked".into()));
    assert_eq!(me_on(&app, 0, &alice).await, (401, "token_revoked".into()));
    assert_eq!(me_on(&app, 1, &laptop).await.0, 200);
    mine.round_trip().await;

    let fresh = log_in(&app, &alice, "a-new-password").await;
    let mut fresh_there = Client::connect(&app, 1, &fresh).await;
    fresh_there.round_trip().await;
    app.post("/api/auth/logout-all", &laptop, json!({}))
        .await
        .expect(204);
    assert_eq!(mine.closed_with().await, 4401);
    // Node 1 applied it once its socket closed.
    assert_eq!(fresh_there.closed_with().await, 4401);
    for user in [&laptop, &fresh] {
        assert_eq!(me_on(&app, 0, user).await, (401, "token_revoked".into()));
        assert_eq!(me_on(&app, 1, user).await, (401, "token_revoked".into()));
    }
    // Logging in again starts a session that works.
    let again = log_in(&app, &alice, "a-new-password").await;
    assert_eq!(me_on(&app, 1, &again).await.0, 200);
}

#[tokio::test]
async fn a_ticket_opens_one_socket_of_its_session() {
    let app = TestApp::spawn_cluster(2, false, &[]).await;
    let alice = app.register("alice").await;
    let ticket = app
        .post("/api/auth/ws-ticket", &alice, json!({}))
        .await
        .expect(201);
    assert_eq!(ticket["expires_in"], 30);
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    let mut socket =
        Client::connect_with_ticket_protocol(&app.nodes[1].addr, &alice, &ticket).await;
    socket.round_trip().await;
    // Used: refused on any node.
    for node in 0..2 {
        let url = format!("ws://{}/ws", app.nodes[node].addr);
        let (status, body) = refused_request(ticket_protocol_request(&url, &ticket)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_ticket"))
        );
    }
    for bad in [
        "",
        "zz",
        "0123456789abcdef0123456789abcdef",
        &"a".repeat(65),
    ] {
        let url = format!("ws://{}/ws", app.nodes[0].addr);
        let request = ticket_protocol_request(&url, bad);
        assert_eq!(refused_request(request).await.0, 401, "{bad:?}");
    }
    // The socket belongs to the session: logging it out closes it.
    app.post("/api/auth/logout", &alice, json!({}))
        .await
        .expect(204);
    assert_eq!(socket.closed_with().await, 4401);
    app.post("/api/auth/ws-ticket", &alice, json!({}))
        .await
        .assert_error(401, "token_revoked");
}

/// A fresh ticket for `user`'s session.
async fn new_ticket(app: &TestApp, user: &TestUser) -> String {
    let ticket = app
        .post("/api/auth/ws-ticket", user, json!({}))
        .await
        .expect(201);
    ticket["ticket"].as_str().unwrap().to_owned()
}

/// The status and error code of a refused upgrade.
async fn refusal(request: Request) -> (u16, String) {
    let (status, body) = refused_request(request).await;
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn a_ticket_offered_as_a_subprotocol_connects_with_nothing_secret_in_the_url() {
    let app = TestApp::spawn_cluster(2, false, &[]).await;
    let alice = app.register("alice").await;
    let ticket = new_ticket(&app, &alice).await;
    // The URL is bare; the server selects `confab.v1` (asserted inside).
    let mut socket =
        Client::connect_with_ticket_protocol(&app.nodes[1].addr, &alice, &ticket).await;
    socket.round_trip().await;
    let invalid_ticket = (401, "invalid_ticket".to_owned());
    // Used: refused on any node. Unknown or malformed: the same.
    for node in 0..2 {
        let url = format!("ws://{}/ws?device=phone", app.nodes[node].addr);
        let reused = refusal(ticket_protocol_request(&url, &ticket)).await;
        assert_eq!(reused, invalid_ticket);
    }
    let url = format!("ws://{}/ws", app.nodes[0].addr);
    for bad in ["", "zz", "0123456789abcdef0123456789abcdef"] {
        let unknown = refusal(ticket_protocol_request(&url, bad)).await;
        assert_eq!(unknown, invalid_ticket, "{bad:?}");
    }

    // Malformed offers are refused before the ticket is looked at, so the
    // ticket survives them: without `confab.v1` (a browser would fail the
    // handshake the server could answer), twice, or next to another
    // credential.
    let fresh = new_ticket(&app, &alice).await;
    let invalid_protocol = (400, "invalid_protocol".to_owned());
    let mut with_header = ticket_protocol_request(&url, &fresh);
    with_header.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", alice.token).parse().unwrap(),
    );
    let offers = [
        offering(&url, &format!("confab.ticket.{fresh}")),
        offering(
            &url,
            &format!("confab.v1, confab.ticket.{fresh}, confab.ticket.{ticket}"),
        ),
        with_header,
    ];
    for request in offers {
        assert_eq!(refusal(request).await, invalid_protocol);
    }
    let in_url = ticket_protocol_request(&format!("{url}?ticket={fresh}"), &fresh);
    assert_eq!(refusal(in_url).await, (400, "credential_in_url".to_owned()));
    let mut again = Client::connect_with_ticket_protocol(&app.nodes[0].addr, &alice, &fresh).await;
    again.round_trip().await;

    // A client with the header may offer `confab.v1` too, and gets it; one
    // that offers nothing gets no protocol, as before.
    for (offer, selected) in [(Some("confab.v1"), Some("confab.v1")), (None, None)] {
        let mut request = match offer {
            Some(protocols) => offering(&url, protocols),
            None => url.as_str().into_client_request().unwrap(),
        };
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {}", alice.token).parse().unwrap(),
        );
        let (_ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        let header = response.headers().get("Sec-WebSocket-Protocol");
        assert_eq!(header.map(|v| v.to_str().unwrap()), selected);
    }
}

#[tokio::test]
async fn a_deleted_account_leaves_its_messages_and_hands_its_groups_over() {
    let app = TestApp::spawn_cluster(1, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let shared = app.create_group(&alice, "shared", &[&bob, &carol]).await;
    let alone = app.create_group(&alice, "alone", &[]).await;
    // carol is made admin later than bob joined: the admin inherits.
    app.patch(
        &format!("/api/groups/{shared}/members/{}", carol.id.0),
        &alice,
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    let mut socket = Client::connect(&app, 0, &alice).await;
    socket
        .send_confirmed("hello", to_user(&bob), "remember me")
        .await;
    let mut bobs = Client::connect(&app, 0, &bob).await;
    bobs.round_trip().await;

    app.call(
        Method::DELETE,
        "/api/me",
        Some(&alice.token),
        Some(json!({"password": "wrong-password"})),
    )
    .await
    .assert_error(403, "wrong_password");
    app.call(
        Method::DELETE,
        "/api/me",
        Some(&alice.token),
        Some(json!({"password": "password123"})),
    )
    .await
    .expect(204);

    assert_eq!(socket.closed_with().await, 4401);
    app.get("/api/me", &alice)
        .await
        .assert_error(401, "token_revoked");
    app.call(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "alice", "password": "password123"})),
    )
    .await
    .assert_error(401, "invalid_credentials");
    // bob is told, and keeps the history, from a deleted account.
    let removed = bobs.next_where(|f| f["kind"] == "friend_removed").await;
    assert_eq!(removed["user_id"], alice.id.0);
    let history = app
        .get(
            &format!("/api/conversations/user/{}/messages", alice.id.0),
            &bob,
        )
        .await
        .expect(200);
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{history}");
    assert_eq!(messages[0]["from"], alice.id.0);
    let profile = app
        .get(&format!("/api/users/{}", alice.id.0), &bob)
        .await
        .expect(200);
    assert_eq!(
        (
            &profile["deleted"],
            &profile["display_name"],
            &profile["bio"]
        ),
        (&json!(true), &json!("Deleted account"), &json!(null))
    );
    assert_eq!(app.get("/api/friends", &bob).await.expect(200), json!([]));
    let found = app.get("/api/users?search=deleted", &bob).await.expect(200);
    assert_eq!(found, json!([]));
    // The group passed to its admin; the one alice was alone in is gone.
    let group = app
        .get(&format!("/api/groups/{shared}"), &bob)
        .await
        .expect(200);
    assert_eq!(group["owner_id"], carol.id.0, "{group}");
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM groups WHERE id = {alone}"))
            .await,
        0
    );
    // The name is free again, for a new account.
    let new_alice = app.register("alice").await;
    assert_ne!(new_alice.id, alice.id);
}

#[tokio::test]
async fn a_token_whose_session_row_is_gone_can_still_be_logged_out() {
    let app = TestApp::spawn_cluster(2, false, &[]).await;
    let alice = app.register("alice").await;
    // A valid token of a session Postgres no longer holds.
    app.count("WITH gone AS (DELETE FROM sessions RETURNING 1) SELECT count(*) FROM gone")
        .await;
    assert_eq!(me_on(&app, 1, &alice).await.0, 200);
    // Its socket on the other node closing is the sign that node applied
    // the revocation.
    let mut there = Client::connect(&app, 1, &alice).await;
    there.round_trip().await;
    app.post("/api/auth/logout", &alice, json!({}))
        .await
        .expect(204);
    assert_eq!(there.closed_with().await, 4401);
    for node in 0..2 {
        assert_eq!(
            me_on(&app, node, &alice).await,
            (401, "token_revoked".into())
        );
    }
}
