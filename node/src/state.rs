//! What every request handler shares.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::FromRef;
use confab_common::UserId;
use confab_common::auth::JwtKeys;
use confab_common::presence::Presence;
use sea_orm::DatabaseConnection;

use crate::password::Passwords;

/// Handles to the node's dependencies; cheap to clone (all fields are shared).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The Postgres pool.
    pub db: DatabaseConnection,
    /// Who is online, from Redis.
    pub presence: Presence,
    /// Signs and checks access tokens.
    pub jwt: Arc<JwtKeys>,
    /// argon2id, bounded to the machine's cores.
    pub passwords: Passwords,
    /// Most members a group may have.
    pub max_group_members: u64,
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

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.jwt.clone()
    }
}
