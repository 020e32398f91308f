//! The message path end to end: two nodes and a dispatcher (in-process,
//! distinct node ids, the test's own queues, keys and database) against the
//! real RabbitMQ, Redis and Postgres.

use std::time::Duration;

use serde_json::json;

use crate::client::{Client, bodies, ids, seqs, to_group, to_user};
use crate::helpers::{TestApp, TestUser};

/// Two nodes, a dispatcher, and two friends.
async fn pair() -> (TestApp, TestUser, TestUser) {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    (app, alice, bob)
}

/// How many logged messages `user`'s device `default` has not acked.
fn pending_for(user: &TestUser) -> String {
    format!(
        "SELECT count(*) FROM user_conversations({u}) uc
         JOIN messages m ON m.conv_id = uc.conv_id
         LEFT JOIN device_positions dp
           ON dp.user_id = {u} AND dp.device = 'default' AND dp.conv_id = uc.conv_id
         WHERE m.seq > GREATEST(uc.floor_seq, COALESCE(dp.seq, 0)) AND m.sender_id <> {u}",
        u = user.id
    )
}

#[tokio::test]
async fn a_message_crosses_nodes_once_with_the_sender_from_the_token() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    // The frame claims to come from bob: the server ignores it.
    a.send_json(json!({"type": "send", "id": "c1", "to": {"user": bob.id.0}, "body": "hi bob", "from": bob.id.0}))
        .await;
    let sent = a.next().await;
    assert_eq!(sent["type"], "sent", "{sent}");
    assert_eq!(sent["id"], "c1");
    assert!(sent["ts"].as_i64().is_some());
    let msg_id = sent["msg_id"].as_str().unwrap().to_owned();
    assert!(msg_id.parse::<i64>().unwrap() > 0);

    let message = b.next_message().await;
    assert_eq!(
        message,
        json!({"type": "message", "msg_id": msg_id, "from": alice.id.0, "to": {"user": bob.id.0},
               "body": "hi bob", "ts": sent["ts"], "seq": 1})
    );
    // Once: nothing more, and the sender's own socket got no copy.
    b.expect_no_message(Duration::from_millis(500)).await;
    a.expect_no_message(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn offline_messages_are_replayed_in_order_and_kept_until_acked() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            a.send_confirmed(&format!("c{i}"), to_user(&bob), &format!("m{i}"))
                .await,
        );
    }
    // Stored for bob (the dispatcher may still be writing the last ones).
    app.eventually(5, &pending_for(&bob)).await;

    // Replayed in order, on either node; without an ack they stay.
    let mut b = Client::connect(&app, 1, &bob).await;
    let replay = b.messages(5).await;
    assert_eq!(bodies(&replay), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(ids(&replay), sent);
    b.close().await;
    let mut b = Client::connect(&app, 0, &bob).await;
    let again = b.messages(5).await;
    assert_eq!(ids(&again), sent);

    // Acked: gone from storage, not replayed again.
    b.ack(&sent).await;
    b.round_trip().await;
    app.eventually(0, &pending_for(&bob)).await;
    b.close().await;
    let mut b = Client::connect(&app, 1, &bob).await;
    b.expect_no_message(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_thousand_messages_arrive_in_order_online_offline_and_across_a_reconnect() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let burst = |from: usize, to: usize| (from..to).map(|i| format!("{i:04}")).collect::<Vec<_>>();

    // Online.
    let mut b = Client::connect(&app, 1, &bob).await;
    let sent = a.send_burst("on", to_user(&bob), &burst(0, 1000)).await;
    let received = b.messages(1000).await;
    assert_eq!(bodies(&received), burst(0, 1000));
    assert_eq!(ids(&received), sent);
    // The conversation's log numbers them 1, 2, 3, … with no gaps.
    assert_eq!(seqs(&received), (1..=1000).collect::<Vec<i64>>());
    b.ack(&ids(&received)).await;
    b.round_trip().await;
    b.close().await;

    // Offline, then online in the middle of the next burst.
    a.send_burst("off", to_user(&bob), &burst(1000, 1500)).await;
    let mut b = Client::connect(&app, 0, &bob).await;
    a.send_burst("mid", to_user(&bob), &burst(1500, 2000)).await;
    let received = b.messages(1000).await;
    assert_eq!(bodies(&received), burst(1000, 2000));
    assert_eq!(seqs(&received), (1001..=2000).collect::<Vec<i64>>());
    b.expect_no_message(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_group_message_reaches_every_member_once() {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let owner = app.register("owner").await;
    let ann = app.register("ann").await;
    let ben = app.register("ben").await;
    let off = app.register("offline").await;
    for friend in [&ann, &ben, &off] {
        app.befriend(&owner, friend).await;
    }
    let group = app.create_group(&owner, "all", &[&ann, &ben, &off]).await;

    let mut sender = Client::connect(&app, 0, &owner).await;
    let mut sender_phone = Client::connect(&app, 1, &owner).await;
    let mut a = Client::connect(&app, 0, &ann).await;
    let mut b = Client::connect(&app, 1, &ben).await;
    let msg_id = sender
        .send_confirmed("g1", to_group(group), "hello all")
        .await;

    for client in [&mut a, &mut b, &mut sender_phone] {
        let message = client.next_message().await;
        assert_eq!(message["msg_id"], msg_id.as_str());
        assert_eq!(message["from"], owner.id.0);
        assert_eq!(message["to"], json!({"group": group}));
        client.expect_no_message(Duration::from_millis(300)).await;
    }
    sender.expect_no_message(Duration::from_millis(100)).await;

    let mut o = Client::connect(&app, 1, &off).await;
    let message = o.next_message().await;
    assert_eq!(message["msg_id"], msg_id.as_str());
    o.expect_no_message(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn every_device_of_a_user_gets_every_message() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut laptop = Client::connect(&app, 0, &bob).await;
    let mut phone = Client::connect(&app, 1, &bob).await;
    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(
            a.send_confirmed(&format!("d{i}"), to_user(&bob), &format!("m{i}"))
                .await,
        );
    }
    assert_eq!(ids(&laptop.messages(10).await), sent);
    assert_eq!(ids(&phone.messages(10).await), sent);
}

#[tokio::test]
async fn the_same_client_id_makes_one_message() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    let first = a.send_confirmed("same", to_user(&bob), "once").await;
    let second = a.send_confirmed("same", to_user(&bob), "once").await;
    assert_eq!(first, second);
    // Even from another connection (a reconnecting client).
    let mut a2 = Client::connect(&app, 1, &alice).await;
    assert_eq!(
        a2.send_confirmed("same", to_user(&bob), "once").await,
        first
    );
    let message = b.next_message().await;
    assert_eq!(message["msg_id"], first.as_str());
    b.expect_no_message(Duration::from_millis(700)).await;
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);
}

#[tokio::test]
async fn removing_a_friend_or_a_member_refuses_their_next_message_at_once() {
    let (app, alice, bob) = pair().await;
    let carol = app.register("carol").await;
    app.befriend(&alice, &carol).await;
    let group = app.create_group(&alice, "trio", &[&bob, &carol]).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    // Warm the caches: both sends are allowed.
    b.send_confirmed("ok1", to_user(&alice), "hi").await;
    b.send_confirmed("ok2", to_group(group), "hi all").await;

    let reply = app
        .delete(&format!("/api/friends/{}", bob.id), &alice)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    let reply = app
        .delete(&format!("/api/groups/{group}/members/{}", bob.id), &alice)
        .await;
    assert_eq!(reply.status.as_u16(), 204);

    b.send_message("no1", to_user(&alice), "still there?").await;
    let refused = b.next_where(|f| f["id"] == "no1").await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("not_friends"))
    );
    b.send_message("no2", to_group(group), "still there?").await;
    let refused = b.next_where(|f| f["id"] == "no2").await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("not_member"))
    );

    // Strangers and unknown targets.
    b.send_message("no3", to_user(&carol), "hello stranger")
        .await;
    assert_eq!(
        b.next_where(|f| f["id"] == "no3").await["code"],
        "not_friends"
    );
    b.send_message("no4", json!({"user": 987654}), "anyone?")
        .await;
    assert_eq!(
        b.next_where(|f| f["id"] == "no4").await["code"],
        "no_such_user"
    );
    b.send_message("no5", json!({"group": 987654}), "anyone?")
        .await;
    assert_eq!(
        b.next_where(|f| f["id"] == "no5").await["code"],
        "no_such_group"
    );
    b.send_message("no6", to_user(&bob), "me, myself").await;
    assert_eq!(
        b.next_where(|f| f["id"] == "no6").await["code"],
        "not_friends"
    );
}

#[tokio::test]
async fn a_node_stopped_with_sigterm_loses_nothing() {
    let (mut app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    let total = 300;
    let expected: Vec<String> = (0..total).map(|i| format!("{i:03}")).collect();
    // Stop bob's node while the burst is in flight.
    let sending = a.send_burst("t", to_user(&bob), &expected);
    let stopping = async {
        let first = b.next_message().await;
        app.stop_node(1).await;
        first
    };
    let (_, before) = tokio::join!(sending, stopping);
    assert_eq!(b.closed_with().await, 1001);

    // Bob reconnects to the other node and gets everything, in order.
    let mut b = Client::connect(&app, 0, &bob).await;
    let mut got = vec![before];
    let mut seen: std::collections::HashSet<String> = ids(&got).into_iter().collect();
    while seen.len() < total {
        let frame = b.next_message().await;
        if seen.insert(frame["msg_id"].as_str().unwrap().to_owned()) {
            got.push(frame);
        }
    }
    assert_eq!(bodies(&got), expected);
}

#[tokio::test]
async fn a_standby_dispatcher_takes_over_without_loss_or_duplicates() {
    let (mut app, alice, bob) = pair().await;
    let standby = app.add_dispatcher();
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    let first: Vec<String> = (0..200).map(|i| format!("{i:03}")).collect();
    let second: Vec<String> = (200..400).map(|i| format!("{i:03}")).collect();
    a.send_burst("x", to_user(&bob), &first).await;
    // The active dispatcher dies mid-stream; the standby becomes active.
    app.kill_dispatcher();
    a.send_burst("y", to_user(&bob), &second).await;
    let mut got = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 400 {
        let frame = b.next_message().await;
        // Repeats (same msg_id) are allowed on the wire, never after dedup.
        if seen.insert(frame["msg_id"].as_str().unwrap().to_owned()) {
            got.push(frame);
        }
    }
    let expected: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(bodies(&got), expected);
    // Numbered once each, in order, across the failover.
    assert_eq!(seqs(&got), (1..=400).collect::<Vec<i64>>());
    b.expect_no_message(Duration::from_millis(500)).await;
    app.eventually(400, &pending_for(&bob)).await;
    standby.stop().await;
}

#[tokio::test]
async fn a_dispatcher_crash_loses_nothing() {
    let (mut app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let bodies_sent: Vec<String> = (0..300).map(|i| format!("{i:03}")).collect();
    let mut b = Client::connect(&app, 1, &bob).await;
    a.send_burst("k", to_user(&bob), &bodies_sent[..100]).await;
    app.kill_dispatcher();
    // Accepted while no dispatcher runs: they wait in `input`.
    a.send_burst("l", to_user(&bob), &bodies_sent[100..]).await;
    app.start_dispatcher();
    let mut got = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 300 {
        let frame = b.next_message().await;
        if seen.insert(frame["msg_id"].as_str().unwrap().to_owned()) {
            got.push(frame);
        }
    }
    assert_eq!(bodies(&got), bodies_sent);
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_leaves_presence() {
    let app = TestApp::spawn_cluster(1, false, &["--ping-secs", "1"]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let url = format!("ws://{}/ws", app.nodes[0].addr);
    // A client that never reads, so never answers pings.
    let bearer = crate::client::with_bearer(&url, &bob.token);
    let (silent, _) = tokio_tungstenite::connect_async(bearer).await.unwrap();
    let online = || async {
        let friends = app.get("/api/friends", &alice).await.expect(200);
        friends[0]["online"].as_bool().unwrap()
    };
    assert!(online().await);
    let mut offline = false;
    for _ in 0..100 {
        if !online().await {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(offline, "the silent connection still counts as online");
    drop(silent);
}

#[tokio::test]
async fn a_refused_id_stays_free_and_a_confirmed_one_stays_answered() {
    let (app, alice, bob) = pair().await;
    let carol = app.register("carol").await;
    let mut a = Client::connect(&app, 0, &alice).await;
    // Refused (not friends yet): nothing was published, the id stays free.
    a.send_message("reuse", to_user(&carol), "hello carol")
        .await;
    assert_eq!(
        a.next_where(|f| f["id"] == "reuse").await["code"],
        "not_friends"
    );
    app.befriend(&alice, &carol).await;
    let first = a
        .send_confirmed("reuse", to_user(&carol), "hello carol")
        .await;

    // Confirmed, then the friendship ends: a retry of the same id is still
    // answered `sent` with the same id, and nothing new is sent.
    let to_bob = a.send_confirmed("keep", to_user(&bob), "hi bob").await;
    app.delete(&format!("/api/friends/{}", bob.id), &alice)
        .await;
    assert_eq!(
        a.send_confirmed("keep", to_user(&bob), "hi bob").await,
        to_bob
    );
    assert_ne!(first, to_bob);
    app.eventually(2, "SELECT count(*) FROM messages").await;
}
