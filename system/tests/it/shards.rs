//! `input` shards: each conversation keeps its order through its shard, with
//! several dispatchers active at once (each on its home shards) and a
//! failover between them; and a dispatcher whose batches overlap (one routed
//! while the one before is confirmed) acks each batch exactly once its
//! deliveries are confirmed.

use std::collections::HashSet;

use confab_common::ids::ConvKey;

use crate::client::{Client, bodies, seqs, to_user};
use crate::helpers::{TestApp, TestUser};

/// Every new message `client` gets until it has `n` distinct ones (a repeat
/// across a failover may come on the wire; the app sees each id once).
async fn receive(client: &mut Client, n: usize) -> Vec<serde_json::Value> {
    let mut got = Vec::new();
    let mut seen = HashSet::new();
    while seen.len() < n {
        let frame = client.next_message().await;
        if seen.insert(frame["msg_id"].as_str().unwrap().to_owned()) {
            got.push(frame);
        }
    }
    got
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:03}")).collect()
}

#[tokio::test]
async fn dispatchers_active_on_different_shards_keep_each_conversation_in_order_through_a_failover()
{
    let mut app = TestApp::spawn_cluster(2, false, &["--input-shards", "4"]).await;
    let home = |shards: &str| {
        [
            "--input-shards".to_owned(),
            "4".to_owned(),
            "--dispatcher-shards".to_owned(),
            shards.to_owned(),
            "--dispatcher-standby-after-ms".to_owned(),
            "200".to_owned(),
        ]
    };
    let first = home("0,1");
    let second = home("2,3");
    app.start_dispatcher_with(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let other = app.add_dispatcher_with(&second.iter().map(String::as_str).collect::<Vec<_>>());
    let alice = app.register("alice").await;
    let mut friends: Vec<TestUser> = Vec::new();
    for name in ["bob", "carol", "dave", "erin", "frank", "grace"] {
        let friend = app.register(name).await;
        app.befriend(&alice, &friend).await;
        friends.push(friend);
    }
    // The conversations fall on both dispatchers' home shards.
    let topology = app.topology(4);
    let shards: HashSet<u16> = friends
        .iter()
        .map(|f| topology.shard_of(ConvKey::direct(alice.id, f.id)))
        .collect();
    assert!(
        shards.iter().any(|&s| s < 2) && shards.iter().any(|&s| s >= 2),
        "{shards:?}"
    );

    let mut a = Client::connect(&app, 0, &alice).await;
    let mut inboxes = Vec::new();
    for friend in &friends {
        inboxes.push(Client::connect(&app, 1, friend).await);
    }
    // (Client ids are per sender: each burst has its own.)
    for (i, friend) in friends.iter().enumerate() {
        let ids = format!("x{i}");
        a.send_burst(&ids, to_user(friend), &numbered("a", 0..40))
            .await;
    }
    // The dispatcher of shards 0 and 1 dies; the other takes them over.
    app.kill_dispatcher();
    // (Client ids are per sender: each burst has its own.)
    for (i, friend) in friends.iter().enumerate() {
        let ids = format!("y{i}");
        a.send_burst(&ids, to_user(friend), &numbered("b", 0..40))
            .await;
    }
    let expected: Vec<String> = numbered("a", 0..40)
        .into_iter()
        .chain(numbered("b", 0..40))
        .collect();
    for inbox in &mut inboxes {
        let got = receive(inbox, 80).await;
        assert_eq!(bodies(&got), expected);
        assert_eq!(seqs(&got), (1..=80).collect::<Vec<i64>>());
    }
    other.stop().await;
}

#[tokio::test]
async fn overlapping_batches_are_each_acked_once_their_deliveries_are_confirmed() {
    let mut app = TestApp::spawn_cluster(2, true, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&carol, &bob).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut c = Client::connect(&app, 0, &carol).await;
    let mut b = Client::connect(&app, 1, &bob).await;
    // Two senders, 100 sends in flight each: the dispatcher's windows come
    // faster than their confirms, so batches overlap.
    let sent = numbered("m", 0..600);
    let (from_a, from_c) = tokio::join!(
        a.send_burst("a", to_user(&bob), &sent),
        c.send_burst("c", to_user(&bob), &sent)
    );
    let got = receive(&mut b, 1200).await;
    let ids: HashSet<&str> = got.iter().map(|f| f["msg_id"].as_str().unwrap()).collect();
    let sent_ids: HashSet<&str> = from_a.iter().chain(&from_c).map(String::as_str).collect();
    assert_eq!(ids, sent_ids);
    b.expect_no_message(std::time::Duration::from_millis(300))
        .await;
    // A graceful stop waits for the publish stage's confirms and acks; an
    // envelope left unacked would go back to its shard.
    app.stop_dispatcher().await;
    assert_eq!(app.input_depth(1).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1200);
}

/// The consumers of `queue` as RabbitMQ lists them: (tag, active).
async fn consumers(queue: String) -> Vec<(String, bool)> {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("rabbitmqctl")
            .args(["list_consumers", "-q", "--no-table-headers"])
            .args(["queue_name", "consumer_tag", "active"])
            .output()
            .expect("rabbitmqctl runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (name, tag, active) = (fields.next()?, fields.next()?, fields.next()?);
                (name == queue).then(|| (tag.to_owned(), active == "true"))
            })
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_dispatcher_that_starts_late_is_handed_its_home_shards() {
    let mut app = TestApp::spawn_cluster(2, false, &["--input-shards", "4"]).await;
    // Alone, and standing by for the other shards at once: active on all.
    app.start_dispatcher_with(&[
        "--input-shards",
        "4",
        "--dispatcher-shards",
        "0,1",
        "--dispatcher-standby-after-ms",
        "0",
    ]);
    let alice = app.register("alice").await;
    let topology = app.topology(4);
    // A friend whose conversation is on shard 2 or 3 (ids are the same in
    // every run, so this is too).
    let mut friend = app.register("friend0").await;
    let mut n = 0;
    while topology.shard_of(ConvKey::direct(alice.id, friend.id)) < 2 {
        n += 1;
        friend = app.register(&format!("friend{n}")).await;
    }
    app.befriend(&alice, &friend).await;
    let shard = topology.shard_of(ConvKey::direct(alice.id, friend.id));
    let queue = topology.input(shard);
    let mut a = Client::connect(&app, 0, &alice).await;
    let mut f = Client::connect(&app, 1, &friend).await;
    a.send_confirmed("m1", to_user(&friend), "before").await;
    assert_eq!(f.next_message().await["seq"], 1);
    let first = consumers(queue.clone()).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let (first_tag, active) = first[0].clone();
    assert!(active);

    // The shard's home dispatcher starts: it is handed the shard, and the
    // first one stays subscribed, standing by.
    let home = app.add_dispatcher_with(&["--input-shards", "4", "--dispatcher-shards", "2,3"]);
    let mut handed = false;
    for _ in 0..60 {
        let now = consumers(queue.clone()).await;
        let active: Vec<&String> = now.iter().filter(|c| c.1).map(|c| &c.0).collect();
        if now.len() == 2 && active.len() == 1 && *active[0] != first_tag {
            handed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        handed,
        "the home dispatcher never became the shard's active consumer"
    );
    // The conversation goes on, in order, through its home dispatcher.
    a.send_confirmed("m2", to_user(&friend), "after").await;
    let next = f.next_message().await;
    assert_eq!(
        (next["body"].as_str(), next["seq"].as_i64()),
        (Some("after"), Some(2))
    );
    home.stop().await;
}
