//! Client ids against the machine's Redis, and against the Redis Cluster
//! named by `CONFAB_TEST_REDIS_CLUSTER` when it is set: the claim with a
//! friend lookup (the sender's slot) and with a group lookup (another
//! slot), and the confirms of many senders in one batch.

use confab_common::keys::BUCKETS;
use confab_common::social::SocialCache;
use confab_common::testing::{Deployment, deployments};
use confab_common::wire::Target;
use confab_common::{GroupId, keys};
use sea_orm::DatabaseConnection;

use super::*;

#[test]
fn stored_values_parse() {
    assert_eq!(
        parse("12:34:s"),
        Some(Seen::Sent {
            msg_id: MessageId(12),
            ts: 34
        })
    );
    assert_eq!(
        parse("12:34:p"),
        Some(Seen::Pending {
            msg_id: MessageId(12),
            ts: 34
        })
    );
    assert_eq!(parse("12:34:x"), None);
    assert_eq!(parse("garbage"), None);
}

struct Bed {
    d: Deployment,
    dedup: Dedup,
    cache: SocialCache,
    keys: Keyspace,
}

async fn each_deployment() -> Vec<Bed> {
    let prefix = format!("confab-test-dedup-{}:", uuid::Uuid::new_v4().simple());
    deployments(&prefix)
        .await
        .expect("every test Redis answers")
        .into_iter()
        .map(|d| Bed {
            dedup: Dedup::new(d.redis.clone(), prefix.clone()),
            cache: SocialCache::new(
                d.redis.clone(),
                DatabaseConnection::default(),
                prefix.clone(),
            ),
            keys: Keyspace::new(prefix.clone()),
            d,
        })
        .collect()
}

/// A cached set, as a fill leaves it.
async fn cached(d: &Deployment, key: &str, member: i64) {
    redis::pipe()
        .sadd(key, member)
        .sadd(key, "-")
        .exec_async(&mut d.redis.clone())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_claim_carries_a_friend_or_a_group_lookup() {
    for bed in each_deployment().await {
        let (ana, bo, group) = (UserId(1), UserId(2), GroupId(9));
        let (name, d) = (bed.d.name, &bed.d);
        assert_ne!(
            keys::slot(bed.keys.dedup(ana, "x").as_bytes()),
            keys::slot(bed.keys.members(group).as_bytes())
        );
        cached(d, &bed.keys.friends(ana), bo.0).await;
        cached(d, &bed.keys.members(group), ana.0).await;
        let to_bo = bed.cache.lookup(ana, Target::User(bo));
        let to_group = bed.cache.lookup(ana, Target::Group(group));

        let (claim, cached) = bed
            .dedup
            .claim(ana, "c-1", MessageId(100), 5, &to_bo)
            .await
            .unwrap();
        assert_eq!((claim.seen(), cached), (Seen::New, Cached::Yes), "{name}");
        drop(claim); // the publish failed: pending
        let (claim, cached) = bed
            .dedup
            .claim(ana, "c-2", MessageId(101), 6, &to_group)
            .await
            .unwrap();
        assert_eq!((claim.seen(), cached), (Seen::New, Cached::Yes), "{name}");
        assert_eq!(claim.message(), (MessageId(101), 6));
        claim.release().await;

        let (claim, _) = bed
            .dedup
            .claim(ana, "c-1", MessageId(102), 7, &to_group)
            .await
            .unwrap();
        let pending = Seen::Pending {
            msg_id: MessageId(100),
            ts: 5,
        };
        assert_eq!(claim.seen(), pending, "{name}");
        assert_eq!(claim.message(), (MessageId(100), 5));
        let (claim, _) = bed
            .dedup
            .claim(ana, "c-2", MessageId(103), 8, &to_bo)
            .await
            .unwrap();
        assert_eq!(claim.seen(), Seen::New, "{name}: released, so new again");
        d.forget().await;
    }
}

/// Confirms of senders in every bucket, written as one batch: each id is
/// then answered `sent`; a confirm whose claim is gone writes nothing.
#[tokio::test]
async fn confirms_of_many_senders_are_recorded_together() {
    for bed in each_deployment().await {
        let d = &bed.d;
        let lookup = bed.cache.lookup(UserId(0), Target::User(UserId(1)));
        let senders: Vec<UserId> = (0..2 * BUCKETS as i64).map(UserId).collect();
        let mut confirms = Vec::new();
        for &sender in &senders {
            let fresh = MessageId(1000 + sender.0);
            let (claim, _) = bed
                .dedup
                .claim(sender, "c", fresh, 9, &lookup)
                .await
                .unwrap();
            confirms.push((claim.key.clone(), format!("{}:9:s", fresh.0)));
        }
        let gone = bed.keys.dedup(UserId(5), "never claimed");
        confirms.push((gone.clone(), "1:1:s".to_owned()));
        write_confirms(&d.redis, confirms.into_iter())
            .await
            .unwrap();

        for &sender in &senders {
            let (claim, _) = bed
                .dedup
                .claim(sender, "c", MessageId(1), 10, &lookup)
                .await
                .unwrap();
            let sent = Seen::Sent {
                msg_id: MessageId(1000 + sender.0),
                ts: 9,
            };
            assert_eq!(claim.seen(), sent, "{}: sender {}", d.name, sender.0);
        }
        let created: bool = redis::cmd("EXISTS")
            .arg(&gone)
            .query_async(&mut d.redis.clone())
            .await
            .unwrap();
        assert!(!created, "{}", d.name);
        let ttl: i64 = redis::cmd("TTL")
            .arg(bed.keys.dedup(UserId(3), "c"))
            .query_async(&mut d.redis.clone())
            .await
            .unwrap();
        assert!(ttl > 0, "{}: the claim keeps its expiry", d.name);
        d.forget().await;
    }
}
