//! Revoked sessions, as every node knows them. Postgres is the record; each
//! node holds the revoked sessions whose tokens have not expired in memory,
//! so that checking a token reads nothing. A revocation is written to
//! Postgres, applied on the node that made it, then published on a Redis
//! channel to the others, which close their sockets of those sessions.
//!
//! A node subscribes first and then reads Postgres, again after every
//! reconnection of its subscription and every [`RELOAD_EVERY`]: a
//! revocation published while it was not listening is in Postgres, and is
//! found at the latest by the next read (`Tokens::follow_revocations`).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use confab_common::UserId;
use confab_common::ids::now_ms;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::sessions::RevokedSession;

/// How often a node reads the revoked sessions again while subscribed.
pub(super) const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// The first wait between two attempts to subscribe (then doubling, up to
/// `tokens::SUBSCRIBE_RETRY_MAX`).
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(1);

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

    /// Notes that the revoked sessions were read from Postgres.
    pub(super) fn mark_loaded(&self) {
        self.loaded.cancel();
    }

    /// Waits until the revoked sessions were read from Postgres.
    pub async fn wait_loaded(&self) {
        self.loaded.cancelled().await;
    }

    /// Adds `sessions`; returns the ones that were not known.
    pub(super) fn add(&self, sessions: &[RevokedSession]) -> Vec<Uuid> {
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
    pub(super) fn prune(&self) {
        let now = now_ms() / 1000;
        self.revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, exp| *exp >= now);
    }
}
