//! Access tokens: issued in a new session, checked against the revoked
//! sessions this node keeps in memory ([`Revocations`]), and revocations
//! applied here and spread to the other nodes (a Redis channel; Postgres is
//! the record, read again whenever the channel may have missed one).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confab_common::UserId;
use confab_common::auth::{Issued, JwtKeys, TokenError, Verified};
use confab_common::keys::Keyspace;
use confab_common::redis::Redis;
use confab_common::retry::Backoff;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio_util::sync::CancellationToken;

use crate::auth::revocations::{RELOAD_EVERY, RETRY_EVERY, Revocations, Revoked};
use crate::auth::sessions::{self, RevokedSession};
use crate::delivery::hub::Hub;
use crate::error::{ApiError, ErrorCode};

/// The longest wait between two attempts to subscribe (the first is
/// [`RETRY_EVERY`], doubling): while no Redis answers, Postgres is read at
/// each attempt, so a revocation is at most this late meanwhile.
const SUBSCRIBE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Issues tokens and checks them, revocations included; closes the local
/// sockets of revoked sessions.
#[derive(Debug)]
pub struct Tokens {
    keys: JwtKeys,
    pub revocations: Arc<Revocations>,
    hub: Arc<Hub>,
    pub(super) redis: Redis,
    pub(super) redis_keys: Keyspace,
}

impl Tokens {
    pub fn new(keys: JwtKeys, hub: Arc<Hub>, redis: impl Into<Redis>, prefix: String) -> Self {
        Self {
            keys,
            revocations: Arc::new(Revocations::default()),
            hub,
            redis: redis.into(),
            redis_keys: Keyspace::new(prefix),
        }
    }

    /// A token for `user` in a new session, recorded in Postgres.
    pub async fn issue(&self, db: &impl ConnectionTrait, user: UserId) -> Result<Issued, ApiError> {
        let issued = self
            .keys
            .issue(user)
            .map_err(|e| ApiError::Internal(e.into()))?;
        sessions::create(db, user, &issued).await?;
        Ok(issued)
    }

    /// The session `token` belongs to, if it is valid and not revoked;
    /// otherwise 401 with a code that says why. No I/O.
    pub fn check(&self, token: &str) -> Result<Verified, ApiError> {
        let verified = self.keys.verify(token).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized(ErrorCode::TokenExpired),
            TokenError::Invalid => ApiError::unauthorized(ErrorCode::InvalidToken),
        })?;
        self.check_session(&verified)?;
        Ok(verified)
    }

    /// Refuses a revoked session, and every session while this node has not
    /// yet read the revoked ones (503: it cannot tell).
    pub fn check_session(&self, verified: &Verified) -> Result<(), ApiError> {
        if !self.revocations.is_loaded() {
            return Err(ApiError::Unavailable(anyhow::anyhow!(
                "revoked sessions not loaded yet"
            )));
        }
        if self.revocations.is_revoked(&verified.session) {
            return Err(ApiError::unauthorized(ErrorCode::TokenRevoked));
        }
        Ok(())
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
    /// `seeds` are where it may subscribe, in order: the one Redis, or a
    /// cluster's seed nodes (a cluster passes every PUBLISH on to all its
    /// nodes, so any one will do). Each new attempt takes the next seed,
    /// round and round, so a subscription whose node failed moves to
    /// another; failed attempts wait as `retry::Backoff` says.
    pub async fn follow_revocations(
        self: std::sync::Arc<Self>,
        db: DatabaseConnection,
        seeds: Vec<redis::Client>,
        stop: CancellationToken,
    ) {
        let mut backoff = Backoff::new(RETRY_EVERY, SUBSCRIBE_RETRY_MAX);
        for client in seeds.iter().cycle() {
            if stop.is_cancelled() {
                return;
            }
            let subscribed = self.subscribe(client).await;
            // Read Postgres even without a subscription: a node must know
            // the revoked sessions to serve at all.
            self.reload(&db).await;
            match subscribed {
                Some(pubsub) => {
                    backoff.reset();
                    self.listen(pubsub, &db, &stop).await;
                }
                None if backoff.wait(&stop).await => {}
                None => return,
            }
        }
        tracing::error!("no Redis to subscribe to revocations on; Postgres is not read again");
    }

    /// A subscription to the revocations channel through `client`.
    async fn subscribe(&self, client: &redis::Client) -> Option<redis::aio::PubSub> {
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "cannot connect to Redis for revocations"))
            .ok()?;
        pubsub
            .subscribe(self.channel())
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "cannot subscribe to revocations"))
            .ok()?;
        Some(pubsub)
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
                self.revocations.mark_loaded();
            }
            Err(e) => tracing::warn!(error = %e, "cannot read revoked sessions; retrying"),
        }
        if let Err(e) = sessions::prune(db).await {
            tracing::debug!(error = %e, "cannot prune expired sessions");
        }
    }
}
