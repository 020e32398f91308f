//! What every request handler shares.

use std::collections::HashSet;
use std::sync::Arc;

use confab_common::UserId;
use confab_common::presence::Presence;
use confab_common::social::SocialCache;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Tokens;
use crate::auth::limits::RateLimits;
use crate::config::WsLimits;
use crate::delivery::acks::AckSender;
use crate::delivery::hub::Hub;
use crate::password::Passwords;
use crate::send::SendPath;

/// Handles to the node's dependencies; cheap to clone (all fields are shared).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The Postgres pool.
    pub db: DatabaseConnection,
    /// Who is online, from Redis.
    pub presence: Presence,
    /// Issues and checks access tokens (revoked sessions included), and
    /// WebSocket tickets.
    pub tokens: Arc<Tokens>,
    /// Per-user and per-address request limits.
    pub limits: Arc<RateLimits>,
    /// argon2id, bounded to the machine's cores.
    pub passwords: Passwords,
    /// Most members a group may have.
    pub max_group_members: u64,
    /// Friendships and memberships, cached for the message path.
    pub social: SocialCache,
    /// This node's WebSocket connections.
    pub hub: Arc<Hub>,
    /// The send pipeline's dependencies: client ids, authorization, the
    /// publisher to `input`, the message id generator.
    pub sends: Arc<SendPath>,
    /// Where `read` and `typing` frames go.
    pub signals: Arc<crate::send::signal::Signals>,
    /// Batches client acks into device positions.
    pub acks: AckSender,
    /// WebSocket limits.
    pub ws: WsLimits,
    /// Turns at the logs for connections' replays (see [`crate::ws::replay`]).
    pub replays: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the node stops: connections close with 1001.
    pub shutdown: CancellationToken,
    /// Every open connection's task, so that shutdown can wait for them.
    pub connections: TaskTracker,
    /// Checks Postgres, Redis and RabbitMQ for `/health`.
    pub probe: confab_common::health::Probe,
}

impl AppState {
    /// Which of `users` are online. Presence is advisory in REST answers: if
    /// Redis does not answer, everyone shows offline (and a warning is
    /// logged) rather than failing a request whose real work is done.
    pub async fn online(&self, users: &[UserId]) -> HashSet<UserId> {
        self.presence.online(users).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "presence unavailable; reporting everyone offline");
            HashSet::new()
        })
    }
}

impl AppState {
    /// Drops the cached friend lists of `users` after a friendship changed,
    /// so that the next `send` is checked against Postgres.
    pub async fn forget_friends(&self, users: &[UserId]) {
        if let Err(e) = self.social.invalidate_friends(users).await {
            tracing::warn!(error = %e, "cannot invalidate cached friends; they lapse within a minute");
        }
    }

    /// Drops the cached members of `group` after its membership changed.
    pub async fn forget_members(&self, group: confab_common::GroupId) {
        if let Err(e) = self.social.invalidate_members(group).await {
            tracing::warn!(error = %e, "cannot invalidate cached members; they lapse within a minute");
        }
    }
}
