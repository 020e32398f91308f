//! What every request handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
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

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.jwt.clone()
    }
}
