//! The reaper against the machine's real Redis and RabbitMQ, each test
//! under its own key and queue prefix.

use std::time::Duration;

use confab_common::ids::NodeId;
use confab_common::presence::ConnKey;
use futures_util::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};

use super::*;

fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A reaper with a prefix of its own, one `input` shard, and a dead node
/// whose only user, 42, went offline with it.
async fn reaper_of_a_dead_node() -> (Reaper, lapin::Channel) {
    let prefix = format!("test.reaper.{}.", uuid::Uuid::new_v4().simple());
    let redis = redis::Client::open(redis_url()).unwrap();
    let redis = redis::aio::ConnectionManager::new(redis).await.unwrap();
    let presence = Presence::new(redis, prefix.clone());
    let node = NodeId(7);
    let incarnation = 1;
    let user = UserId(42);
    presence
        .register(&[(
            user,
            ConnKey {
                node,
                incarnation,
                conn: 1,
            },
        )])
        .await
        .unwrap();
    // The node's record is gone (what a lapse leaves to claim).
    let offline = presence.reap_incarnation(node, incarnation).await.unwrap();
    assert_eq!(offline, [user]);
    let broker = Broker::new(&amqp_url(), "reaper test", 2, Duration::from_secs(10)).unwrap();
    let connection = broker.connection().await.unwrap();
    let channel = broker.open_channel(&connection).await.unwrap();
    let mut reaper = Reaper::new(presence, broker, Topology::new(prefix, 1));
    reaper.unannounced = offline;
    (reaper, channel)
}

async fn delete(channel: &lapin::Channel, queue: &str) {
    channel
        .queue_delete(ShortString::from(queue), QueueDeleteOptions::default())
        .await
        .unwrap();
}

/// The shard's first message is the offline signal of user 42.
async fn assert_announced(channel: &lapin::Channel, shard: &str) {
    let mut consumer = channel
        .basic_consume(
            ShortString::from(shard),
            ShortString::from("reaper-test"),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    // The bound only keeps a regression from hanging the suite.
    let got = tokio::time::timeout(Duration::from_secs(30), consumer.next())
        .await
        .expect("the signal is in the shard")
        .expect("the consumer is open")
        .unwrap();
    channel
        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await
        .unwrap();
    let signal: Input = serde_json::from_slice(&got.data).unwrap();
    let Input::Signal(signal) = signal else {
        panic!("not a signal: {signal:?}");
    };
    assert_eq!(signal.from, UserId(42));
    assert_eq!(signal.kind, SignalKind::Presence { online: false });
}

/// The refused user is kept; once the shard exists as it should, the next
/// round announces them (then the test's queues go).
async fn sent_again_once_the_shard_takes_it(reaper: &mut Reaper, channel: &lapin::Channel) {
    assert_eq!(reaper.unannounced(), [UserId(42)]);
    let shard = reaper.topology.input(0);
    let connection = reaper.broker.connection().await.unwrap();
    reaper.topology.declare_input(&connection).await.unwrap();
    reaper.step().await.unwrap();
    assert!(reaper.unannounced().is_empty());
    assert_announced(channel, &shard).await;
    delete(channel, &shard).await;
    delete(channel, &reaper.topology.input_dead()).await;
}

#[tokio::test]
async fn a_returned_offline_signal_is_kept_and_sent_again() {
    let (mut reaper, channel) = reaper_of_a_dead_node().await;
    let shard = reaper.topology.input(0);
    // No `input` shard yet: the signal comes back unroutable.
    let refused = reaper.step().await;
    assert!(
        matches!(refused, Err(ReapError::NotTaken(Confirmed::Returned(ref q))) if *q == shard),
        "{refused:?}"
    );
    sent_again_once_the_shard_takes_it(&mut reaper, &channel).await;
}

#[tokio::test]
async fn a_nacked_offline_signal_is_kept_and_sent_again() {
    let (mut reaper, channel) = reaper_of_a_dead_node().await;
    let shard = reaper.topology.input(0);
    // A shard that refuses every publish: the broker nacks.
    let mut full = FieldTable::default();
    full.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    full.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    channel
        .queue_declare(
            ShortString::from(shard.as_str()),
            QueueDeclareOptions::default(),
            full,
        )
        .await
        .unwrap();
    let refused = reaper.step().await;
    assert!(
        matches!(refused, Err(ReapError::NotTaken(Confirmed::Nacked))),
        "{refused:?}"
    );
    delete(&channel, &shard).await;
    sent_again_once_the_shard_takes_it(&mut reaper, &channel).await;
}
