//! The connection against the machine's Redis, and against the Redis
//! Cluster named by `CONFAB_TEST_REDIS_CLUSTER` when it is set.

use std::time::Duration;

use futures_util::StreamExt;
use redis::cluster_routing::{Route, SlotAddr};
use secrecy::SecretString;

use super::*;
use crate::config::RedisConfig;
use crate::ids::UserId;
use crate::keys::{self, BUCKETS, Keyspace};
use crate::testing::{Deployment, deployments};

fn prefix() -> String {
    format!("confab-test-redis-{}:", uuid::Uuid::new_v4().simple())
}

async fn each_deployment() -> (String, Vec<Deployment>) {
    let prefix = prefix();
    let deployments = deployments(&prefix)
        .await
        .expect("every test Redis answers");
    (prefix, deployments)
}

#[test]
fn slots_agree_with_redis_rs_routing() {
    let keys = Keyspace::new("confab:");
    for user in 0..100 {
        for key in [
            keys.presence(UserId(user)),
            keys.dedup(UserId(user), "c{1}"),
            keys.ws_ticket(&format!("{user:x}")),
            keys.nodes(),
            keys.login_wait(&format!("user{user}")),
        ] {
            assert_eq!(
                Route::new(keys::slot(key.as_bytes()), SlotAddr::Master),
                Route::with_key(&key, SlotAddr::Master),
                "{key}"
            );
        }
    }
}

#[tokio::test]
async fn slots_agree_with_the_cluster() {
    let (_, deployments) = each_deployment().await;
    let keys = Keyspace::new("confab:");
    for d in deployments.iter().filter(|d| d.redis.is_cluster()) {
        for user in 0..(2 * BUCKETS as i64) {
            let key = keys.presence(UserId(user));
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async(&mut d.redis.clone())
                .await
                .unwrap();
            assert_eq!(slot, keys::slot(key.as_bytes()), "{key}");
        }
    }
}

/// A write and a read per user for users of every bucket, as one batch:
/// the replies come back in the batch's order.
#[tokio::test]
async fn a_batch_spans_slots_and_answers_in_order() {
    let (prefix, deployments) = each_deployment().await;
    let keys = Keyspace::new(prefix);
    let users: Vec<UserId> = (0..3 * BUCKETS as i64).map(UserId).collect();
    for d in &deployments {
        let mut writes = Batch::new();
        for &user in &users {
            let key = keys.friends(user);
            writes.add(&key, Cmd::sadd(&key, user.0 * 10));
            writes.add(&key, Cmd::sadd(&key, user.0 * 10 + 1));
        }
        assert_eq!(writes.slots(), BUCKETS);
        let added: Vec<i64> = d.redis.run(writes).await.unwrap();
        assert_eq!(added, vec![1; 2 * users.len()], "{}", d.name);

        let mut reads = Batch::new();
        for &user in users.iter().rev() {
            let key = keys.friends(user);
            reads.add(&key, Cmd::sismember(&key, user.0 * 10 + 1));
            reads.add(&key, Cmd::scard(&key));
        }
        let read: Vec<(bool, i64)> = d
            .redis
            .run::<Vec<i64>>(reads)
            .await
            .unwrap()
            .chunks(2)
            .map(|pair| (pair[0] == 1, pair[1]))
            .collect();
        assert_eq!(read, vec![(true, 2); users.len()], "{}", d.name);
        let nothing: Vec<Value> = d.redis.run(Batch::new()).await.unwrap();
        assert!(nothing.is_empty());
        d.forget().await;
    }
}

/// What the batches are for: a cluster refuses one pipeline over two slots.
#[tokio::test]
async fn a_cluster_refuses_a_pipeline_over_two_slots() {
    let (prefix, deployments) = each_deployment().await;
    let keys = Keyspace::new(prefix);
    let (a, b) = (keys.friends(UserId(0)), keys.friends(UserId(1)));
    assert_ne!(keys::slot(a.as_bytes()), keys::slot(b.as_bytes()));
    for d in &deployments {
        let crossing = redis::pipe()
            .exists(&a)
            .exists(&b)
            .query_async::<(bool, bool)>(&mut d.redis.clone())
            .await;
        assert_eq!(crossing.is_err(), d.redis.is_cluster(), "{}", d.name);
    }
}

/// `in_order` hands back each pipeline's replies, an atomic one's too.
#[tokio::test]
async fn in_order_answers_each_pipeline() {
    let (prefix, deployments) = each_deployment().await;
    let keys = Keyspace::new(prefix);
    let (registry, user) = (keys.nodes(), keys.presence(UserId(5)));
    for d in &deployments {
        let mut first = redis::pipe();
        first.hset(&registry, 1, "a").hgetall(&registry);
        let mut then = redis::pipe();
        then.atomic().hset(&user, "f", 1).hkeys(&user);
        let (first, then) = d.redis.in_order(&first, &then).await.unwrap();
        let record: std::collections::HashMap<u16, String> = reply(first, 1).unwrap();
        let fields: Vec<String> = reply(then, 1).unwrap();
        assert_eq!(record[&1], "a", "{}", d.name);
        assert_eq!(fields, ["f"], "{}", d.name);
        d.forget().await;
    }
}

/// A PUBLISH through the connection reaches a subscriber on every node of
/// the deployment: in a cluster, replicas and masters that do not own the
/// channel's slot included (what the revocations subscriber relies on).
#[tokio::test]
async fn a_publish_reaches_subscribers_on_every_node() {
    let (prefix, deployments) = each_deployment().await;
    let channel = Keyspace::new(prefix).revocations();
    for d in &deployments {
        let clients = if d.redis.is_cluster() {
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut d.redis.clone())
                .await
                .unwrap();
            nodes
                .lines()
                .filter_map(|line| line.split(' ').nth(1)?.split('@').next())
                .map(|addr| redis::Client::open(format!("redis://{addr}")).unwrap())
                .collect()
        } else {
            d.config.subscription_clients().unwrap()
        };
        let mut streams = Vec::new();
        for client in &clients {
            let mut pubsub = client.get_async_pubsub().await.unwrap();
            pubsub.subscribe(&channel).await.unwrap();
            streams.push(pubsub.into_on_message());
        }
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg("hello")
            .query_async(&mut d.redis.clone())
            .await
            .unwrap();
        for stream in &mut streams {
            // The bound only keeps a regression from hanging the suite.
            let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(message.get_payload::<String>().unwrap(), "hello");
        }
        assert_eq!(streams.len(), if d.redis.is_cluster() { 6 } else { 1 });
    }
}

/// A cluster whose seeds do not answer fails a request (within the
/// timeouts) instead of hanging: what makes a named but absent test
/// cluster fail the tests.
#[tokio::test]
async fn a_cluster_that_does_not_answer_fails_requests() {
    let config = RedisConfig {
        redis_url: SecretString::from(String::new()),
        // Port 1: nothing listens there.
        redis_cluster_nodes: vec![SecretString::from("redis://127.0.0.1:1")],
        redis_key_prefix: prefix(),
    };
    let redis = config.connect().await.unwrap();
    assert!(redis.is_cluster());
    let ping = tokio::time::timeout(
        Duration::from_secs(30),
        redis::cmd("PING").query_async::<String>(&mut redis.clone()),
    )
    .await
    .expect("answered within the timeouts");
    assert!(ping.is_err());
}

#[derive(Debug, clap::Parser)]
struct RedisOnly {
    #[command(flatten)]
    redis: RedisConfig,
}

fn redis(args: &[&str]) -> RedisConfig {
    use clap::Parser;
    let mut all = vec!["test"];
    all.extend(args);
    RedisOnly::try_parse_from(all).unwrap().redis
}

#[tokio::test]
async fn a_cluster_is_used_when_seed_nodes_are_given() {
    let single = redis(&[]);
    assert!(single.validate().is_ok());
    assert!(!single.connect().await.unwrap().is_cluster());
    assert_eq!(single.subscription_clients().unwrap().len(), 1);

    let nodes = "redis://127.0.0.1:7000,redis://127.0.0.1:7001, redis://127.0.0.1:7002";
    let cluster = redis(&["--redis-cluster-nodes", nodes]);
    assert!(cluster.validate().is_ok());
    assert!(cluster.connect().await.unwrap().is_cluster());
    assert_eq!(cluster.subscription_clients().unwrap().len(), 3);

    let blank = redis(&["--redis-cluster-nodes", ""]);
    assert!(!blank.connect().await.unwrap().is_cluster());
    assert!(
        redis(&["--redis-cluster-nodes", "not a url"])
            .validate()
            .is_err()
    );
}

#[test]
fn a_prefix_with_a_hash_tag_is_refused() {
    assert!(
        redis(&["--redis-key-prefix", "app{1}:"])
            .validate()
            .is_err()
    );
    assert!(redis(&["--redis-key-prefix", "app}:"]).validate().is_err());
    assert!(redis(&["--redis-key-prefix", "app:"]).validate().is_ok());
}
