//! Presence against the machine's Redis, and against the Redis Cluster
//! named by `CONFAB_TEST_REDIS_CLUSTER` when it is set.

use crate::keys::BUCKETS;
use crate::testing::{Deployment, deployments};

use super::*;

async fn each_deployment() -> Vec<(Deployment, Presence, Keyspace)> {
    let prefix = format!("confab-test-presence-{}:", uuid::Uuid::new_v4().simple());
    deployments(&prefix)
        .await
        .expect("every test Redis answers")
        .into_iter()
        .map(|d| {
            let presence = Presence::new(d.redis.clone(), prefix.clone());
            (d, presence, Keyspace::new(prefix.clone()))
        })
        .collect()
}

fn conn(node: u16, incarnation: u64, conn: u64) -> ConnKey {
    ConnKey {
        node: NodeId(node),
        incarnation,
        conn,
    }
}

async fn node_users(d: &Deployment, keys: &Keyspace, node: u16, inc: u64) -> Vec<i64> {
    let mut users: Vec<i64> = redis::cmd("SMEMBERS")
        .arg(keys.node_users(NodeId(node), inc))
        .query_async(&mut d.redis.clone())
        .await
        .unwrap();
    users.sort_unstable();
    users
}

/// Makes node process (`node`, `incarnation`) look dead: its record lapsed.
async fn lapse(d: &Deployment, keys: &Keyspace, node: u16, incarnation: u64) {
    redis::cmd("HSET")
        .arg(keys.nodes())
        .arg(node)
        .arg(format!("{incarnation}:1"))
        .exec_async(&mut d.redis.clone())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_first_device_in_and_the_last_out_are_told_apart() {
    for (d, presence, keys) in each_deployment().await {
        let user = UserId(31);
        presence.heartbeat(NodeId(1), 10).await.unwrap();
        presence.heartbeat(NodeId(2), 20).await.unwrap();
        let (phone, laptop) = (conn(1, 10, 1), conn(2, 20, 1));
        assert!(presence.connect(user, phone).await.unwrap(), "{}", d.name);
        assert!(!presence.connect(user, laptop).await.unwrap(), "{}", d.name);
        assert_eq!(node_users(&d, &keys, 1, 10).await, [31]);
        assert_eq!(node_users(&d, &keys, 2, 20).await, [31]);
        let located = presence.locate(&[user]).await.unwrap();
        assert_eq!(located[&user].len(), 2, "{}", d.name);

        assert!(
            !presence.disconnect(user, phone, true).await.unwrap(),
            "{}",
            d.name
        );
        assert!(node_users(&d, &keys, 1, 10).await.is_empty());
        assert!(
            presence.disconnect(user, laptop, true).await.unwrap(),
            "{}",
            d.name
        );
        assert!(presence.locate(&[user]).await.unwrap().is_empty());
        d.forget().await;
    }
}

/// Of two devices connecting at once, exactly one is first, whatever the
/// interleaving (the user's key is written and read in one MULTI).
#[tokio::test]
async fn of_two_devices_connecting_at_once_exactly_one_is_first() {
    for (d, presence, _) in each_deployment().await {
        presence.heartbeat(NodeId(1), 10).await.unwrap();
        presence.heartbeat(NodeId(2), 20).await.unwrap();
        for user in (0..BUCKETS as i64).map(UserId) {
            let (a, b) = tokio::join!(
                presence.connect(user, conn(1, 10, 1)),
                presence.connect(user, conn(2, 20, 1)),
            );
            assert!(a.unwrap() ^ b.unwrap(), "{}: user {}", d.name, user.0);
        }
        d.forget().await;
    }
}

/// Registering and locating many users spans every bucket's slot.
#[tokio::test]
async fn users_of_every_bucket_are_registered_and_located() {
    for (d, presence, keys) in each_deployment().await {
        presence.heartbeat(NodeId(3), 30).await.unwrap();
        let users: Vec<UserId> = (100..100 + 2 * BUCKETS as i64).map(UserId).collect();
        let connections: Vec<(UserId, ConnKey)> = users
            .iter()
            .map(|&u| (u, conn(3, 30, u.0.unsigned_abs())))
            .collect();
        presence.register(&connections).await.unwrap();
        let mut asked = users.clone();
        asked.push(UserId(99)); // never connected
        let located = presence.locate(&asked).await.unwrap();
        assert_eq!(located.len(), users.len(), "{}", d.name);
        for (user, key) in &connections {
            assert_eq!(located[user], [*key], "{}", d.name);
        }
        let online = presence.online(&asked).await.unwrap();
        assert_eq!(online, users.iter().copied().collect(), "{}", d.name);
        assert_eq!(node_users(&d, &keys, 3, 30).await.len(), users.len());

        presence.remove_node(NodeId(3), 30).await.unwrap();
        assert!(
            presence.locate(&users).await.unwrap().is_empty(),
            "{}",
            d.name
        );
        assert!(node_users(&d, &keys, 3, 30).await.is_empty());
        assert_eq!(presence.incarnation_of(NodeId(3)).await.unwrap(), None);
        d.forget().await;
    }
}

/// A dead node's record is claimed once; the users it leaves with no live
/// connection are the ones returned, from every bucket.
#[tokio::test]
async fn a_dead_nodes_users_are_reaped_once() {
    for (d, presence, keys) in each_deployment().await {
        presence.heartbeat(NodeId(4), 40).await.unwrap();
        presence.heartbeat(NodeId(5), 50).await.unwrap();
        let users: Vec<UserId> = (0..BUCKETS as i64).map(UserId).collect();
        for &user in &users {
            presence.connect(user, conn(4, 40, 1)).await.unwrap();
        }
        // One of them is also on a node that stays alive.
        presence.connect(users[3], conn(5, 50, 1)).await.unwrap();
        lapse(&d, &keys, 4, 40).await;
        assert_eq!(presence.incarnation_of(NodeId(4)).await.unwrap(), Some(40));

        let mut offline = presence.reap().await.unwrap();
        offline.sort_unstable_by_key(|u| u.0);
        let expected: Vec<UserId> = users.iter().copied().filter(|&u| u != users[3]).collect();
        assert_eq!(offline, expected, "{}", d.name);
        assert!(presence.reap().await.unwrap().is_empty(), "{}", d.name);
        assert!(node_users(&d, &keys, 4, 40).await.is_empty());
        assert_eq!(presence.incarnation_of(NodeId(4)).await.unwrap(), None);
        assert!(
            presence.heartbeat(NodeId(5), 50).await.unwrap(),
            "{}",
            d.name
        );
        d.forget().await;
    }
}
