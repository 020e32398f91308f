//! Who is asking: access tokens checked against the revoked sessions every
//! node keeps in memory ([`revocations`]), sessions stored in Postgres
//! ([`sessions`]), single-use tickets for browsers' WebSockets
//! ([`tickets`]), and the limits on log-in and sign-up ([`limits`]).

pub mod limits;
pub mod revocations;
pub mod sessions;
pub mod tickets;

use std::sync::Arc;

use confab_common::UserId;
use confab_common::auth::{Issued, JwtKeys, TokenError, Verified};
use confab_common::keys::Keyspace;
use sea_orm::ConnectionTrait;

use crate::auth::revocations::Revocations;
use crate::delivery::hub::Hub;
use crate::error::{ApiError, ErrorCode};

/// Issues tokens and checks them, revocations included; closes the local
/// sockets of revoked sessions.
#[derive(Debug)]
pub struct Tokens {
    keys: JwtKeys,
    pub revocations: Arc<Revocations>,
    hub: Arc<Hub>,
    redis: redis::aio::ConnectionManager,
    redis_keys: Keyspace,
}

impl Tokens {
    pub fn new(
        keys: JwtKeys,
        hub: Arc<Hub>,
        redis: redis::aio::ConnectionManager,
        prefix: String,
    ) -> Self {
        Self {
            keys,
            revocations: Arc::new(Revocations::default()),
            hub,
            redis,
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
