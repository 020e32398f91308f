//! Shard hand-over (`consumer.rs`, `homes.rs`): two dispatchers on one
//! topology, each with a home shard and standing by for the other's. When
//! the one active on a shard stops, the broker makes the other active
//! (single active consumer) and it routes what follows: every message is
//! logged once, numbered without a gap, and reaches the node once, in
//! order: a graceful stop acks every batch it routed before it lets go.

use std::collections::{HashMap, HashSet};

use confab_common::envelope::{Delivery, Envelope};
use confab_common::ids::ConvKey;
use confab_common::keys::Keyspace;
use confab_common::presence::ConnKey;
use confab_common::wire::Target;
use confab_common::{MessageId, NodeId, UserId};

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};

use crate::bed::{PATIENCE, POLL, TestBed};
use crate::node::FakeNode;

/// The consumers of `queue` as RabbitMQ lists them: (tag, active). A
/// passive declare counts only the active one of a single-active-consumer
/// queue, so the standby is seen here only.
async fn consumers(queue: &str) -> Vec<(String, bool)> {
    let queue = queue.to_owned();
    let listed = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("rabbitmqctl")
            .args(["list_consumers", "-q", "--no-table-headers"])
            .args(["queue_name", "consumer_tag", "active"])
            .output()
            .expect("rabbitmqctl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (name, tag, active) = (fields.next()?, fields.next()?, fields.next()?);
                (name == queue).then(|| (tag.to_owned(), active == "true"))
            })
            .collect()
    });
    listed.await.unwrap()
}

/// The instance id of the dispatcher that announces `shard` as its home.
async fn home_of(bed: &TestBed, shard: u16) -> String {
    let key = Keyspace::new(bed.redis_prefix.clone()).dispatcher_home(shard);
    let wait = async {
        loop {
            let home: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut bed.redis.clone())
                .await
                .expect("GET");
            if let Some(home) = home {
                return home;
            }
            tokio::time::sleep(POLL).await;
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("no home announced")
}

/// A friend of `alice` whose conversation with her is on `shard`.
async fn friend_on_shard(bed: &TestBed, alice: UserId, shard: u16) -> UserId {
    for n in 0.. {
        let friend = bed.user(&format!("friend{shard}_{n}")).await;
        if bed.topology.shard_of(ConvKey::direct(alice, friend)) == shard {
            bed.befriend(alice, friend).await;
            return friend;
        }
    }
    unreachable!()
}

/// Publishes `n` messages from `from` to each of `to`, interleaved, each as
/// its own AMQP message; returns them.
async fn burst(bed: &TestBed, from: (UserId, ConnKey), to: &[UserId], n: usize) -> Vec<Envelope> {
    let mut sent = Vec::new();
    for i in 0..n {
        for &friend in to {
            let message = bed.message(from.0, friend, &format!("{i}"), from.1);
            bed.publish(std::slice::from_ref(&message)).await;
            sent.push(message);
        }
    }
    sent
}

/// Waits until `queue` has two consumers, the active one tagged for the
/// dispatcher `active` (consumer.rs tags `dispatcher-{id}-{shard}`).
async fn until_standing_by(queue: &str, active: &str, shard: u16) {
    let tag = format!("dispatcher-{active}-{shard}");
    let wait = async {
        loop {
            let now = consumers(queue).await;
            if now.len() == 2 && now.iter().any(|(t, on)| *t == tag && *on) {
                return;
            }
        }
    };
    let waited = tokio::time::timeout(PATIENCE, wait).await;
    waited.expect("no dispatcher stood by behind the active one");
}

/// Locks the conversation of `a` and `b` (as an append does) until the
/// transaction ends: an append to it waits meanwhile.
async fn hold_conversation(bed: &TestBed, a: UserId, b: UserId) -> DatabaseTransaction {
    let txn = bed.db.begin().await.expect("begin");
    let lock = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM conversations WHERE user_lo = $1 AND user_hi = $2 FOR UPDATE",
        [a.0.min(b.0).into(), a.0.max(b.0).into()],
    );
    txn.execute_raw(lock).await.expect("lock the conversation");
    txn
}

/// Waits until a statement of the test's database waits for a lock.
async fn until_blocked(bed: &TestBed) {
    let waiting = Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    let wait = async {
        loop {
            let row = bed
                .db
                .query_one_raw(waiting.clone())
                .await
                .unwrap()
                .unwrap();
            if row.try_get_by_index::<i64>(0).unwrap() > 0 {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let waited = tokio::time::timeout(PATIENCE, wait).await;
    waited.expect("no append ever waited for the conversation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_active_dispatcher_stops_the_standby_routes_the_rest_once_and_in_order() {
    let bed = TestBed::new(2).await;
    let alice = bed.user("alice").await;
    let friends = [
        friend_on_shard(&bed, alice, 0).await,
        friend_on_shard(&bed, alice, 1).await,
    ];
    let node = FakeNode::start(&bed, NodeId(1)).await;
    let origin = node.connect(&bed, alice).await;
    for &friend in &friends {
        node.connect(&bed, friend).await;
    }
    let from = (alice, origin);

    // Alone, the first dispatcher is active on both shards.
    let first = bed.start_dispatcher(Some(vec![0])).await;
    let mut sent = burst(&bed, from, &friends, 10).await;
    let mut got = until_all_delivered(&bed, &node, &sent, Vec::new()).await;
    // The second takes its home shard (1) and stands by for shard 0.
    let second = bed.start_dispatcher(Some(vec![1])).await;
    until_standing_by(&bed.topology.input(0), &home_of(&bed, 0).await, 0).await;

    // The first stops with a batch of shard 0 in hand (its append waits
    // for the conversation) and more prefetched behind it: it finishes and
    // acks that batch; what it only held goes back, to the second.
    let held = hold_conversation(&bed, alice, friends[0]).await;
    sent.extend(burst(&bed, from, &friends, 30).await);
    until_blocked(&bed).await;
    first.cancel();
    held.rollback().await.expect("release the conversation");
    first.stop().await;
    // Stopped, the first withdrew its home shard: the second keeps it
    // rather than handing it back to nobody until the announcement lapses.
    let key = Keyspace::new(bed.redis_prefix.clone()).dispatcher_home(0);
    let home: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut bed.redis.clone())
        .await
        .expect("GET");
    assert_eq!(
        home, None,
        "the stopped dispatcher's home shard is withdrawn"
    );
    // Only the second is left to route these.
    sent.extend(burst(&bed, from, &friends, 10).await);
    got = until_all_delivered(&bed, &node, &sent, got).await;

    second.stop().await;
    // Stopped, they have published all they will: take the rest (repeats,
    // if any).
    while let Some(bundle) = node.try_bundle(&bed).await {
        got.extend(bundle.deliveries);
    }
    for queue in bed.topology.inputs() {
        assert_eq!(bed.ready(&queue).await, 0, "{queue}: all acked");
    }
    assert_logged_and_delivered_once_in_order(&bed, &sent, &got).await;
}

/// `got` and the deliveries that follow until every message of `sent` has
/// come at least once.
async fn until_all_delivered(
    bed: &TestBed,
    node: &FakeNode,
    sent: &[Envelope],
    mut got: Vec<Delivery>,
) -> Vec<Delivery> {
    let mut missing: HashSet<MessageId> = sent.iter().map(|e| e.message.msg_id).collect();
    for delivery in &got {
        missing.remove(&delivery.msg_id);
    }
    while !missing.is_empty() {
        for delivery in node.next_bundle(bed).await.deliveries {
            missing.remove(&delivery.msg_id);
            got.push(delivery);
        }
    }
    got
}

/// Each conversation's messages were logged once, numbered 1..n in the
/// order they were published, and delivered once each, in that order. (A
/// crash may repeat a delivery, with its seq, for the node to drop; a
/// graceful stop may not.)
async fn assert_logged_and_delivered_once_in_order(
    bed: &TestBed,
    sent: &[Envelope],
    got: &[Delivery],
) {
    // Every conversation is alice's with one friend: keyed by the friend.
    let friend_of: HashMap<MessageId, Target> = sent
        .iter()
        .map(|e| (e.message.msg_id, e.message.to))
        .collect();
    let mut published: HashMap<Target, Vec<(MessageId, i64)>> = HashMap::new();
    for envelope in sent {
        let conversation = published.entry(envelope.message.to).or_default();
        conversation.push((envelope.message.msg_id, conversation.len() as i64 + 1));
    }
    let mut logged: HashMap<Target, Vec<(MessageId, i64)>> = HashMap::new();
    for (id, _, seq) in bed.log().await {
        logged.entry(friend_of[&id]).or_default().push((id, seq));
    }
    assert_eq!(logged, published, "each log: once, 1..n, in publish order");
    let mut delivered: HashMap<Target, Vec<(MessageId, i64)>> = HashMap::new();
    for d in got {
        let conversation = delivered.entry(friend_of[&d.msg_id]).or_default();
        conversation.push((d.msg_id, d.seq.0));
    }
    assert_eq!(delivered, published, "deliveries: once each, in that order");
}
