//! Revoked sessions, as every node knows them. Postgres is the record; each
//! node holds the revoked sessions whose tokens have not expired in memory,
//! so that checking a token reads nothing. A revocation is written to
//! Postgres, applied on the node that made it, then published on a Redis
//! channel to the others, which close their sockets of those sessions.
//!
//! A node subscribes first and then reads Postgres, again after every
//! reconnection of its subscription and every [`RELOAD_EVERY`]: a
//! revocation published while it was not listening is in Postgres, and is
//! found at the latest by the next read.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use confab_common::UserId;
use confab_common::ids::now_ms;
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Tokens;
use crate::auth::sessions::{self, RevokedSession};

/// How often a node reads the revoked sessions again while subscribed.
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// The wait between two attempts to subscribe.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// One revocation, as it travels on the channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub user: UserId,
    pub sessions: Vec<RevokedSession>,
}

/// The revoked sessions whose tokens are still unexpired, by id, with their
/// expiry (Unix seconds).
#[derive(Debug, Default)]
pub struct Revocations {
    revoked: RwLock<HashMap<Uuid, i64>>,
    /// Cancelled once the revoked sessions were read from Postgres.
    loaded: CancellationToken,
}

impl Revocations {
    /// Whether `session` was revoked.
    pub fn is_revoked(&self, session: &Uuid) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(session)
    }

    /// Whether the revoked sessions were read from Postgres at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.is_cancelled()
    }

    /// Waits until the revoked sessions were read from Postgres.
    pub async fn wait_loaded(&self) {
        self.loaded.cancelled().await;
    }

    /// Adds `sessions`; returns the ones that were not known.
    fn add(&self, sessions: &[RevokedSession]) -> Vec<Uuid> {
        let mut revoked = self
            .revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions
            .iter()
            .filter(|(id, exp)| revoked.insert(*id, *exp).is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Forgets sessions whose tokens have expired (they are refused anyway).
    fn prune(&self) {
        let now = now_ms() / 1000;
        self.revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, exp| *exp >= now);
    }
}

impl Tokens {
    /// Applies a revocation that Postgres has recorded: here at once, on the
    /// other nodes through Redis. Closes the sessions' sockets.
    pub async fn revoked(&self, revoked: Revoked) {
        if revoked.sessions.is_empty() {
            return;
        }
        self.apply(&revoked);
        let payload = match serde_json::to_string(&revoked) {
            Ok(payload) => payload,
            Err(e) => return tracing::error!(error = %e, "cannot encode a revocation"),
        };
        let mut redis = self.redis.clone();
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(payload)
            .query_async(&mut redis)
            .await;
        if let Err(e) = published {
            // The other nodes' subscriptions are down too: they read
            // Postgres again when they are back.
            tracing::warn!(error = %e, "cannot publish a revocation; other nodes read it from Postgres");
        }
    }

    /// Records `revoked` in this node's memory and closes its sockets here.
    fn apply(&self, revoked: &Revoked) {
        let new = self.revocations.add(&revoked.sessions);
        if !new.is_empty() {
            metrics::counter!(confab_common::metric::SESSIONS_REVOKED).increment(new.len() as u64);
            let closed = self.hub.revoke(revoked.user, &new);
            tracing::info!(
                user_id = revoked.user.0,
                sessions = new.len(),
                closed,
                "sessions revoked"
            );
        }
    }

    fn channel(&self) -> String {
        self.redis_keys.revocations()
    }

    /// Keeps this node's revoked sessions current until `stop`: subscribes,
    /// reads Postgres, applies what is published; again after any failure.
    pub async fn follow_revocations(
        self: std::sync::Arc<Self>,
        db: DatabaseConnection,
        client: redis::Client,
        stop: CancellationToken,
    ) {
        while !stop.is_cancelled() {
            let subscribed = match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(self.channel()).await {
                    Ok(()) => Some(pubsub),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot subscribe to revocations");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect to Redis for revocations");
                    None
                }
            };
            // Read Postgres even without a subscription: a node must know
            // the revoked sessions to serve at all.
            self.reload(&db).await;
            match subscribed {
                Some(pubsub) => self.listen(pubsub, &db, &stop).await,
                None => {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RETRY_EVERY) => {}
                    }
                }
            }
        }
    }

    /// Applies published revocations until the subscription ends or `stop`.
    async fn listen(
        &self,
        pubsub: redis::aio::PubSub,
        db: &DatabaseConnection,
        stop: &CancellationToken,
    ) {
        let mut messages = pubsub.into_on_message();
        let mut next_reload = tokio::time::Instant::now() + self.reload_wait();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(next_reload) => {
                    self.reload(db).await;
                    next_reload = tokio::time::Instant::now() + self.reload_wait();
                }
                message = messages.next() => {
                    let Some(message) = message else {
                        tracing::warn!("revocation subscription lost; subscribing again");
                        return;
                    };
                    match serde_json::from_slice::<Revoked>(message.get_payload_bytes()) {
                        Ok(revoked) => self.apply(&revoked),
                        Err(e) => tracing::warn!(error = %e, "undecodable revocation ignored"),
                    }
                }
            }
        }
    }

    /// Until the first read succeeds, retry soon.
    fn reload_wait(&self) -> Duration {
        if self.revocations.is_loaded() {
            RELOAD_EVERY
        } else {
            RETRY_EVERY
        }
    }

    /// Reads every revoked session from Postgres and applies the new ones.
    async fn reload(&self, db: &DatabaseConnection) {
        match sessions::revoked(db).await {
            Ok(rows) => {
                self.revocations.prune();
                let mut by_user: HashMap<UserId, Vec<RevokedSession>> = HashMap::new();
                for (user, session) in rows {
                    by_user.entry(user).or_default().push(session);
                }
                for (user, sessions) in by_user {
                    self.apply(&Revoked { user, sessions });
                }
                self.revocations.loaded.cancel();
            }
            Err(e) => tracing::warn!(error = %e, "cannot read revoked sessions; retrying"),
        }
        if let Err(e) = sessions::prune(db).await {
            tracing::debug!(error = %e, "cannot prune expired sessions");
        }
    }
}
