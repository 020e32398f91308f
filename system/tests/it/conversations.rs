//! Conversations: the log and its `seq`, devices with their own positions,
//! the history, read positions and receipts, typing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Client, ids, seqs, to_group, to_user};
use crate::helpers::{TestApp, TestUser};

async fn pair() -> (TestApp, TestUser, TestUser) {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    (app, alice, bob)
}

/// Where `user`'s `device` stands in its conversation with the most
/// messages.
fn position_of(user: &TestUser, device: &str) -> String {
    format!(
        "SELECT COALESCE(max(seq), 0) FROM device_positions WHERE user_id = {} AND device = '{device}'",
        user.id
    )
}

fn texts(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

#[tokio::test]
async fn each_device_has_its_own_position_and_an_ack_moves_only_its_own() {
    let (app, alice, bob) = pair().await;
    let mut phone = Client::connect_device(&app, 0, &bob, "phone").await;
    let mut laptop = Client::connect_device(&app, 1, &bob, "laptop").await;
    phone.round_trip().await;
    laptop.round_trip().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let sent = a.send_burst("m", to_user(&bob), &texts(3, "m")).await;
    for device in [&mut phone, &mut laptop] {
        let got = device.messages(3).await;
        assert_eq!(ids(&got), sent);
        assert_eq!(seqs(&got), [1, 2, 3]);
    }
    // The phone acks; the laptop does not.
    phone.ack(&sent).await;
    phone.round_trip().await;
    app.eventually(3, &position_of(&bob, "phone")).await;
    phone.close().await;
    laptop.close().await;

    let mut phone = Client::connect_device(&app, 1, &bob, "phone").await;
    phone.round_trip().await;
    phone.expect_no_message(Duration::from_millis(200)).await;
    let mut laptop = Client::connect_device(&app, 0, &bob, "laptop").await;
    assert_eq!(ids(&laptop.messages(3).await), sent);
}

#[tokio::test]
async fn the_senders_other_devices_get_the_stored_message_and_the_sender_does_not() {
    let (app, alice, bob) = pair().await;
    let mut phone = Client::connect_device(&app, 0, &alice, "phone").await;
    let mut laptop = Client::connect_device(&app, 1, &alice, "laptop").await;
    phone.round_trip().await;
    laptop.round_trip().await;
    let msg_id = phone
        .send_confirmed("c1", to_user(&bob), "from my phone")
        .await;
    let copy = laptop.next_message().await;
    assert_eq!(copy["msg_id"], msg_id.as_str());
    assert_eq!(copy["seq"], 1);
    assert_eq!(copy["from"], alice.id.0);
    phone.expect_no_message(Duration::from_millis(200)).await;
    // The sending device has its own message: it is not replayed to it,
    // though nothing acked it.
    phone.close().await;
    let mut phone = Client::connect_device(&app, 0, &alice, "phone").await;
    phone.round_trip().await;
    phone.expect_no_message(Duration::from_millis(200)).await;
    // Bob, whenever he comes, gets it with the same id and seq.
    let mut b = Client::connect(&app, 1, &bob).await;
    let got = b.next_message().await;
    assert_eq!(
        (got["msg_id"].clone(), got["seq"].clone()),
        (copy["msg_id"].clone(), json!(1))
    );
}

#[tokio::test]
async fn a_new_device_starts_at_the_read_position_and_gets_at_most_500_per_conversation() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    a.send_burst("early", to_user(&bob), &texts(3, "e")).await;
    let mut phone = Client::connect_device(&app, 1, &bob, "phone").await;
    assert_eq!(seqs(&phone.messages(3).await), [1, 2, 3]);
    phone
        .send_json(json!({"type": "read", "conv": to_user(&alice), "seq": 2}))
        .await;
    let receipt = a.next_where(|f| f["type"] == "read").await;
    assert_eq!(
        receipt,
        json!({"type": "read", "conv": {"user": bob.id.0}, "user": bob.id.0, "seq": 2})
    );
    // A device never seen: what the user has not read.
    let mut tablet = Client::connect_device(&app, 0, &bob, "tablet").await;
    let got = tablet.messages(1).await;
    assert_eq!(seqs(&got), [3]);
    tablet.round_trip().await;
    tablet.expect_no_message(Duration::from_millis(100)).await;
    // A long backlog: a new device gets the newest 500.
    a.send_burst("late", to_user(&bob), &texts(600, "l")).await;
    app.eventually(603, "SELECT max(seq) FROM messages").await;
    let mut tv = Client::connect_device(&app, 1, &bob, "tv").await;
    let got = tv.messages(500).await;
    assert_eq!(seqs(&got), (104..=603).collect::<Vec<i64>>());
    tv.round_trip().await;
    tv.expect_no_message(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_user_keeps_at_most_the_configured_devices_and_forgets_the_oldest() {
    let app = TestApp::spawn_cluster(1, true, &["--devices-per-user", "2"]).await;
    let alice = app.register("alice").await;
    for device in ["one", "two", "three"] {
        let mut c = Client::connect_device(&app, 0, &alice, device).await;
        c.round_trip().await;
        c.close().await;
    }
    let devices = format!(
        "SELECT count(*) FROM devices WHERE user_id = {} AND device IN ('two', 'three')",
        alice.id
    );
    app.eventually(2, &devices).await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM devices WHERE user_id = {}",
            alice.id
        ))
        .await,
        2
    );
    // A bad device name is refused before the upgrade.
    let url = format!("ws://{}/ws?device=no%20spaces", app.nodes[0].addr);
    let (status, body) = crate::client::refused(&url, Some(&alice.token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_device"))
    );
}

#[tokio::test]
async fn group_seq_is_gapless_per_conversation_and_the_log_stores_each_message_once() {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let owner = app.register("owner").await;
    let mut members = Vec::new();
    for i in 0..4 {
        let m = app.register(&format!("member{i}")).await;
        app.befriend(&owner, &m).await;
        members.push(m);
    }
    let refs: Vec<&TestUser> = members.iter().collect();
    let group = app.create_group(&owner, "g", &refs).await;
    let mut o = Client::connect(&app, 0, &owner).await;
    let mut m0 = Client::connect(&app, 1, &members[0]).await;
    m0.round_trip().await;
    o.send_burst("g", to_group(group), &texts(50, "g")).await;
    let got = m0.messages(50).await;
    assert_eq!(seqs(&got), (1..=50).collect::<Vec<i64>>());
    // One row per message, not per member.
    app.eventually(50, "SELECT count(*) FROM messages").await;
    assert_eq!(app.count("SELECT max(seq) FROM messages").await, 50);
}

/// GETs `path` as `user` and returns the `seq`s of the page's messages.
async fn page_seqs(app: &TestApp, user: &TestUser, path: &str) -> Vec<i64> {
    let page = app.get(path, user).await.expect(200);
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn history_pages_both_ways_and_only_participants_read_it() {
    let (app, alice, bob) = pair().await;
    let carol = app.register("carol").await;
    let mut a = Client::connect(&app, 0, &alice).await;
    a.send_burst("d", to_user(&bob), &texts(5, "d")).await;
    app.eventually(5, "SELECT count(*) FROM messages").await;
    let path = format!("/api/conversations/user/{}/messages", bob.id);
    assert_eq!(
        page_seqs(&app, &alice, &format!("{path}?limit=2")).await,
        [5, 4]
    );
    assert_eq!(
        page_seqs(&app, &alice, &format!("{path}?before_seq=4&limit=2")).await,
        [3, 2]
    );
    assert_eq!(
        page_seqs(&app, &alice, &format!("{path}?after_seq=3")).await,
        [4, 5]
    );
    let page = app
        .get(&format!("{path}?after_seq=0&limit=1"), &alice)
        .await
        .expect(200);
    assert_eq!(
        page["messages"][0],
        json!({"msg_id": page["messages"][0]["msg_id"], "seq": 1, "from": alice.id.0,
               "to": {"user": bob.id.0}, "body": "d0000", "ts": page["messages"][0]["ts"]})
    );
    assert_eq!(
        (page["first_seq"].clone(), page["last_seq"].clone()),
        (json!(1), json!(5))
    );
    // Bob sees the same conversation from his side.
    let bobs = format!("/api/conversations/user/{}/messages", alice.id);
    assert_eq!(page_seqs(&app, &bob, &bobs).await, [5, 4, 3, 2, 1]);
    // Bad queries.
    app.get(&format!("{path}?limit=0"), &alice)
        .await
        .assert_error(422, "invalid_query");
    app.get(&format!("{path}?limit=201"), &alice)
        .await
        .assert_error(422, "invalid_query");
    app.get(&format!("{path}?before_seq=2&after_seq=1"), &alice)
        .await
        .assert_error(422, "invalid_query");
    // Strangers.
    app.get(
        &format!("/api/conversations/user/{}/messages", alice.id),
        &carol,
    )
    .await
    .assert_error(404, "no_such_conversation");
    app.get("/api/conversations/user/999999/messages", &carol)
        .await
        .assert_error(404, "no_such_user");
    // Ex-friends keep the history; sending stays refused.
    app.delete(&format!("/api/friends/{}", bob.id), &alice)
        .await
        .expect(204);
    assert_eq!(page_seqs(&app, &bob, &bobs).await, [5, 4, 3, 2, 1]);
    a.send_message("after", to_user(&bob), "still there?").await;
    assert_eq!(
        a.next_where(|f| f["id"] == "after").await["code"],
        "not_friends"
    );
}

#[tokio::test]
async fn group_history_is_for_current_members_from_when_they_joined() {
    let app = TestApp::spawn_cluster(1, true, &[]).await;
    let owner = app.register("owner").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    for u in [&bob, &carol, &dave] {
        app.befriend(&owner, u).await;
    }
    let group = app.create_group(&owner, "g", &[&bob]).await;
    let mut o = Client::connect(&app, 0, &owner).await;
    o.send_burst("g", to_group(group), &texts(3, "g")).await;
    app.eventually(3, "SELECT count(*) FROM messages").await;
    let path = format!("/api/conversations/group/{group}/messages");
    assert_eq!(page_seqs(&app, &bob, &path).await, [3, 2, 1]);
    app.get(&path, &carol).await.assert_error(403, "not_member");
    app.get("/api/conversations/group/999999/messages", &carol)
        .await
        .assert_error(404, "no_such_group");
    // Dave joins after seq 3: he reads from 4 on.
    app.post(
        &format!("/api/groups/{group}/members"),
        &owner,
        json!({"user_ids": [dave.id.0]}),
    )
    .await
    .expect(200);
    let page = app.get(&path, &dave).await.expect(200);
    assert_eq!(
        (page["messages"].clone(), page["first_seq"].clone()),
        (json!([]), json!(4))
    );
    o.send_confirmed("g4", to_group(group), "welcome").await;
    app.eventually(4, "SELECT count(*) FROM messages").await;
    assert_eq!(page_seqs(&app, &dave, &path).await, [4]);
    // Removed: no more history.
    app.delete(&format!("/api/groups/{group}/members/{}", bob.id), &owner)
        .await
        .expect(204);
    app.get(&path, &bob).await.assert_error(403, "not_member");
}

fn conversation_with<'a>(list: &'a Value, with: &Value) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| &c["with"] == with)
        .unwrap_or_else(|| panic!("no conversation with {with} in {list}"))
}

#[tokio::test]
async fn read_positions_never_go_back_and_receipts_reach_the_others_and_the_readers_devices() {
    let (app, alice, bob) = pair().await;
    let carol = app.register("carol").await;
    app.befriend(&alice, &carol).await;
    let group = app.create_group(&alice, "g", &[&bob, &carol]).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut phone = Client::connect_device(&app, 1, &bob, "phone").await;
    let mut laptop = Client::connect_device(&app, 0, &bob, "laptop").await;
    let mut c = Client::connect(&app, 1, &carol).await;
    a.send_burst("d", to_user(&bob), &texts(3, "d")).await;
    a.send_burst("g", to_group(group), &texts(2, "g")).await;
    phone.messages(5).await;
    laptop.messages(5).await;
    c.messages(2).await;

    let list = app.get("/api/conversations", &bob).await.expect(200);
    let direct = conversation_with(&list, &json!({"user": alice.id.0}));
    assert_eq!(
        (
            direct["last_seq"].clone(),
            direct["read_seq"].clone(),
            direct["unread"].clone(),
            direct["peer_read_seq"].clone()
        ),
        (json!(3), json!(0), json!(3), json!(0))
    );
    assert_eq!(direct["last_message"]["body"], "d0002");
    // Most recent activity first: the group came last.
    assert_eq!(list[0]["with"], json!({"group": group}));
    assert!(list[0].get("peer_read_seq").is_none());

    phone
        .send_json(json!({"type": "read", "conv": to_user(&alice), "seq": 2}))
        .await;
    let to_alice = a.next_where(|f| f["type"] == "read").await;
    assert_eq!(
        to_alice,
        json!({"type": "read", "conv": {"user": bob.id.0}, "user": bob.id.0, "seq": 2})
    );
    let to_laptop = laptop.next_where(|f| f["type"] == "read").await;
    assert_eq!(
        to_laptop,
        json!({"type": "read", "conv": {"user": alice.id.0}, "user": bob.id.0, "seq": 2})
    );
    // Never back; beyond the end is the end.
    phone
        .send_json(json!({"type": "read", "conv": to_user(&alice), "seq": 1}))
        .await;
    phone
        .send_json(json!({"type": "read", "conv": to_user(&alice), "seq": 99}))
        .await;
    let capped = a.next_where(|f| f["type"] == "read").await;
    assert_eq!(capped["seq"], 3);
    let read_seq = format!(
        "SELECT seq FROM read_positions WHERE user_id = {} AND conv_id = (SELECT conv_id FROM messages WHERE to_user_id = {} LIMIT 1)",
        bob.id, bob.id
    );
    app.eventually(3, &read_seq).await;
    let list = app.get("/api/conversations", &alice).await.expect(200);
    let direct = conversation_with(&list, &json!({"user": bob.id.0}));
    assert_eq!(
        (direct["peer_read_seq"].clone(), direct["unread"].clone()),
        (json!(3), json!(0))
    );
    let page = app
        .get(
            &format!("/api/conversations/user/{}/messages", bob.id),
            &alice,
        )
        .await
        .expect(200);
    assert_eq!(page["reads"], json!([{"user": bob.id.0, "seq": 3}]));

    // A group receipt goes to every other member and the reader's devices.
    c.send_json(json!({"type": "read", "conv": to_group(group), "seq": 2}))
        .await;
    for client in [&mut a, &mut phone, &mut laptop] {
        let receipt = client
            .next_where(|f| f["type"] == "read" && f["conv"]["group"] == group)
            .await;
        assert_eq!(receipt["user"], carol.id.0);
        assert_eq!(receipt["seq"], 2);
    }
    let list = app.get("/api/conversations", &carol).await.expect(200);
    assert_eq!(
        conversation_with(&list, &json!({"group": group}))["unread"],
        0
    );

    // Not a conversation of hers.
    let dave = app.register("dave").await;
    c.send_json(json!({"type": "read", "conv": to_user(&dave), "seq": 1}))
        .await;
    let error = c.next_where(|f| f["type"] == "error").await;
    assert_eq!(error["code"], "no_such_conversation");
}

#[tokio::test]
async fn typing_reaches_the_others_at_most_once_per_interval_and_is_not_stored() {
    let (app, alice, bob) = pair().await;
    let carol = app.register("carol").await;
    app.befriend(&alice, &carol).await;
    let group = app.create_group(&alice, "g", &[&bob, &carol]).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    let mut c = Client::connect(&app, 0, &carol).await;
    b.round_trip().await;
    c.round_trip().await;
    for _ in 0..5 {
        a.send_json(json!({"type": "typing", "conv": to_user(&bob)}))
            .await;
    }
    a.send_json(json!({"type": "typing", "conv": to_group(group)}))
        .await;
    a.round_trip().await;
    // Order holds within a conversation, not across them (each has its
    // input shard).
    let typing = b
        .next_where(|f| f["type"] == "typing" && f["conv"]["user"].is_number())
        .await;
    assert_eq!(
        typing,
        json!({"type": "typing", "conv": {"user": alice.id.0}, "user": alice.id.0})
    );
    for client in [&mut b, &mut c] {
        let typing = client
            .next_where(|f| f["type"] == "typing" && f["conv"]["group"] == group)
            .await;
        assert_eq!(typing["user"], alice.id.0);
    }
    // A message after them: only one direct typing came before it.
    a.send_confirmed("m", to_user(&bob), "hi").await;
    b.next_message().await;
    let mut more = 0;
    while let Some(frame) = b.next_within(Duration::from_millis(10)).await {
        more += usize::from(frame["type"] == "typing");
    }
    assert_eq!(more, 0);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);
    // Not to strangers.
    let dave = app.register("dave").await;
    a.send_json(json!({"type": "typing", "conv": to_user(&dave)}))
        .await;
    assert_eq!(
        a.next_where(|f| f["type"] == "error").await["code"],
        "not_friends"
    );
}

/// A message accepted after the cutoff but numbered before messages
/// accepted before it goes with them: a log starts at `first_seq`, with no
/// holes below it.
#[tokio::test]
async fn retention_takes_what_is_left_below_a_moved_first_seq() {
    use sea_orm::ConnectionTrait;
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    a.send_burst("old", to_user(&bob), &texts(3, "o")).await;
    app.eventually(3, "SELECT count(*) FROM messages").await;
    let cutoff = confab_common::ids::now_ms() + 1;
    // Seq 1 now says it was accepted a minute after the cutoff.
    let later = confab_common::ids::MessageId::first_at(cutoff + 60_000).0;
    app.db
        .execute_unprepared(&format!(
            "UPDATE messages SET msg_id = {later} WHERE seq = 1"
        ))
        .await
        .unwrap();
    let removed = confab_common::log::retention::expire(&app.db, cutoff)
        .await
        .unwrap();
    assert_eq!(removed, 3, "seqs 2 and 3 by their age, seq 1 below them");
    app.eventually(0, "SELECT count(*) FROM messages").await;
}

#[tokio::test]
async fn retention_removes_old_messages_and_the_log_says_where_it_starts() {
    let (app, alice, bob) = pair().await;
    let mut a = Client::connect(&app, 0, &alice).await;
    a.send_burst("old", to_user(&bob), &texts(3, "o")).await;
    app.eventually(3, "SELECT count(*) FROM messages").await;
    // Everything so far is older than the cutoff.
    let cutoff = confab_common::ids::now_ms() + 1;
    let removed = confab_common::log::retention::expire(&app.db, cutoff)
        .await
        .unwrap();
    assert_eq!(removed, 3);
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.send_confirmed("new", to_user(&bob), "new").await;
    app.eventually(1, "SELECT count(*) FROM messages").await;
    let path = format!("/api/conversations/user/{}/messages", alice.id);
    let page = app.get(&path, &bob).await.expect(200);
    assert_eq!(
        (page["first_seq"].clone(), page["last_seq"].clone()),
        (json!(4), json!(4))
    );
    assert_eq!(page_seqs(&app, &bob, &path).await, [4]);
    // A device that was away gets what is left, numbered as it was.
    let mut b = Client::connect(&app, 1, &bob).await;
    assert_eq!(seqs(&b.messages(1).await), [4]);
    // Nothing older than the cutoff is left to remove.
    assert_eq!(
        confab_common::log::retention::expire(&app.db, cutoff)
            .await
            .unwrap(),
        0
    );
}
