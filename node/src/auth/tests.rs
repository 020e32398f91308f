//! The auth side's Redis — per-address limits, log-in delays, WebSocket
//! tickets, and the revocations channel — against the machine's Redis, and
//! against the Redis Cluster named by `CONFAB_TEST_REDIS_CLUSTER` when it is
//! set.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use confab_common::auth::{JwtKeys, Verified};
use confab_common::config::DatabaseConfig;
use confab_common::testing::{Deployment, deployments};
use confab_common::{NodeId, UserId};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::auth::Tokens;
use crate::auth::limits::{PerAddress, RateLimits};
use crate::auth::revocations::Revoked;
use crate::delivery::hub::Hub;

async fn each_deployment(what: &str) -> (String, Vec<Deployment>) {
    let prefix = format!("confab-test-{what}-{}:", uuid::Uuid::new_v4().simple());
    let deployments = deployments(&prefix)
        .await
        .expect("every test Redis answers");
    (prefix, deployments)
}

fn tokens(d: &Deployment, prefix: &str) -> Arc<Tokens> {
    let keys = JwtKeys::new(&SecretString::from("x".repeat(32)), Duration::from_secs(60));
    let hub = Arc::new(Hub::new(NodeId(1), 1, 8));
    Arc::new(Tokens::new(keys, hub, d.redis.clone(), prefix.to_owned()))
}

#[tokio::test]
async fn limits_count_per_address_and_delay_an_account() {
    let (prefix, deployments) = each_deployment("limits").await;
    let mut config = crate::Config::try_parse_from(["confab-node"]).unwrap();
    config.limits.login_per_address = 2;
    config.limits.login_free_failures = 0;
    for d in &deployments {
        let limits = RateLimits::new(&config.limits, &config.ws, d.redis.clone(), prefix.clone());
        let addr = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        // Two per minute: a third in the same minute is refused (a turn of
        // the minute between them starts a new count: try again then).
        let refused = loop {
            let counted = [
                limits.per_address(PerAddress::LogIn, addr).await,
                limits.per_address(PerAddress::LogIn, addr).await,
                limits.per_address(PerAddress::LogIn, addr).await,
            ];
            if counted[0].is_ok() && counted[1].is_ok() {
                break counted[2].is_err();
            }
        };
        assert!(refused, "{}", d.name);

        // Five failures in a row: the next log-in waits 16 s.
        assert!(limits.login_allowed("Ana").await.is_ok(), "{}", d.name);
        for _ in 0..5 {
            limits.login_failed("Ana").await;
        }
        assert!(limits.login_allowed("ana").await.is_err(), "{}", d.name);
        limits.login_succeeded("ANA").await;
        assert!(limits.login_allowed("ana").await.is_ok(), "{}", d.name);
        d.forget().await;
    }
}

#[tokio::test]
async fn a_ticket_is_taken_once() {
    let (prefix, deployments) = each_deployment("tickets").await;
    for d in &deployments {
        let tokens = tokens(d, &prefix);
        tokens.revocations.mark_loaded();
        let verified = Verified {
            user: UserId(7),
            session: uuid::Uuid::new_v4(),
            exp: confab_common::ids::now_ms() / 1000 + 60,
        };
        let ticket = tokens.ticket(&verified).await.unwrap();
        let redeemed = tokens.redeem(&ticket).await.unwrap();
        assert_eq!(
            (redeemed.user, redeemed.session),
            (verified.user, verified.session),
            "{}",
            d.name
        );
        assert!(tokens.redeem(&ticket).await.is_err(), "{}: used", d.name);
        d.forget().await;
    }
}

/// A node follows the revocations channel from the first seed that
/// answers (here the first does not): what another node publishes through
/// its connection is applied.
#[tokio::test]
async fn revocations_reach_a_node_subscribed_past_a_dead_seed() {
    let (prefix, deployments) = each_deployment("revocations").await;
    // The revoked sessions are not needed: a read that fails (no such
    // table in the server's own database) is logged and retried.
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let db = DatabaseConfig {
        database_url: SecretString::from(format!("{server}/postgres")),
        database_max_connections: 1,
    }
    .connect()
    .await
    .unwrap();
    for d in &deployments {
        let (follower, publisher) = (tokens(d, &prefix), tokens(d, &prefix));
        let mut seeds = vec![redis::Client::open("redis://127.0.0.1:1").unwrap()];
        seeds.extend(d.config.subscription_clients().unwrap());
        let stop = CancellationToken::new();
        let following = tokio::spawn(follower.clone().follow_revocations(
            db.clone(),
            seeds,
            stop.clone(),
        ));
        let session = uuid::Uuid::new_v4();
        let revoked = Revoked {
            user: UserId(7),
            sessions: vec![(session, confab_common::ids::now_ms() / 1000 + 60)],
        };
        // Published again until the follower has subscribed (a channel
        // keeps nothing for late subscribers); the bound only keeps a
        // regression from hanging the suite.
        tokio::time::timeout(Duration::from_secs(60), async {
            while !follower.revocations.is_revoked(&session) {
                publisher.revoked(revoked.clone()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: the revocation never arrived", d.name));
        stop.cancel();
        following.await.unwrap();
    }
}
