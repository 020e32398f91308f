//! The cache's Redis side against the machine's Redis, and against the
//! Redis Cluster named by `CONFAB_TEST_REDIS_CLUSTER` when it is set. No
//! database: every answer here comes from the cache.

use crate::keys::BUCKETS;
use crate::testing::{Deployment, deployments};

use super::*;

async fn each_deployment() -> Vec<(Deployment, SocialCache, Keyspace)> {
    let prefix = format!("confab-test-social-{}:", uuid::Uuid::new_v4().simple());
    deployments(&prefix)
        .await
        .expect("every test Redis answers")
        .into_iter()
        .map(|d| {
            let cache = SocialCache::new(
                d.redis.clone(),
                DatabaseConnection::default(),
                prefix.clone(),
            );
            (d, cache, Keyspace::new(prefix.clone()))
        })
        .collect()
}

/// What a fill leaves: the set with its marker.
async fn cached(d: &Deployment, key: &str, entries: &[&str]) {
    redis::pipe()
        .sadd(key, entries)
        .sadd(key, PRESENT)
        .exec_async(&mut d.redis.clone())
        .await
        .unwrap();
}

#[tokio::test]
async fn friends_of_users_in_every_bucket_are_forgotten_at_once() {
    for (d, cache, keys) in each_deployment().await {
        let users: Vec<UserId> = (0..BUCKETS as i64 + 2).map(UserId).collect();
        for &user in &users {
            cached(&d, &keys.friends(user), &["1000"]).await;
        }
        assert!(cache.are_friends(users[5], UserId(1000)).await.unwrap());
        cache.invalidate_friends(&users).await.unwrap();
        let mut left = crate::redis::Batch::new();
        for &user in &users {
            let key = keys.friends(user);
            left.add(&key, Cmd::exists(&key));
        }
        let left: Vec<bool> = d.redis.run(left).await.unwrap();
        assert_eq!(left, vec![false; users.len()], "{}", d.name);
        cache.invalidate_friends(&[]).await.unwrap();
        d.forget().await;
    }
}

/// The lookups a send carries, read from the cache for a friend, a
/// stranger, a member and a group that does not exist.
#[tokio::test]
async fn lookups_read_the_cache() {
    for (d, cache, keys) in each_deployment().await {
        let (ana, bo) = (UserId(1), UserId(2));
        cached(&d, &keys.friends(ana), &["2"]).await;
        cached(&d, &keys.members(GroupId(7)), &["1"]).await;
        cached(&d, &keys.members(GroupId(8)), &[NO_SUCH_GROUP]).await;
        let cases = [
            (cache.lookup(ana, Target::User(bo)), Cached::Yes),
            (cache.lookup(ana, Target::User(UserId(3))), Cached::No),
            (cache.lookup(bo, Target::User(ana)), Cached::Unknown),
            (cache.lookup(ana, Target::Group(GroupId(7))), Cached::Yes),
            (cache.lookup(bo, Target::Group(GroupId(7))), Cached::No),
            (
                cache.lookup(ana, Target::Group(GroupId(8))),
                Cached::NoSuchGroup,
            ),
        ];
        for (lookup, expected) in cases {
            let mut batch = crate::redis::Batch::new();
            lookup.add_to(&mut batch);
            let replies = d.redis.run(batch).await.unwrap();
            assert_eq!(Lookup::read(replies), expected, "{}: {lookup:?}", d.name);
        }
        assert_eq!(cache.is_member(GroupId(7), ana).await.unwrap(), Some(true));
        assert_eq!(cache.is_member(GroupId(8), ana).await.unwrap(), None);
        cache.invalidate_members(GroupId(7)).await.unwrap();
        let gone: bool = redis::cmd("EXISTS")
            .arg(keys.members(GroupId(7)))
            .query_async(&mut d.redis.clone())
            .await
            .unwrap();
        assert!(!gone, "{}", d.name);
        d.forget().await;
    }
}
