//! JWT access tokens: HS256 only, with the algorithm pinned on verification so
//! that `alg: none` or an RS256/HS512 token is refused whatever it claims.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::ids::{UserId, now_ms};

/// What a Confab token asserts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user the token was issued to, as a decimal string (RFC 7519 makes
    /// `sub` a string); the only source of a sender's id.
    pub sub: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The session the token belongs to (a UUID): what log-out revokes.
    pub sid: String,
}

/// A token that checked out: whose it is, its session, when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub user: UserId,
    pub session: uuid::Uuid,
    /// Unix seconds.
    pub exp: i64,
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub session: uuid::Uuid,
    /// Unix seconds.
    pub exp: i64,
}

/// Why a token was refused. Clients get one answer (401) for all of them; the
/// kinds exist for logs and metrics.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// Signs and verifies tokens with one shared secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys for `secret`; tokens issued live for `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        // Nodes of one cluster share a clock closely enough; keep the window small.
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
        }
    }

    /// A token for `user` in a new session, valid for the configured time
    /// to live.
    pub fn issue(&self, user: UserId) -> Result<Issued, jsonwebtoken::errors::Error> {
        let now = now_ms() / 1000;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let session = uuid::Uuid::new_v4();
        let claims = Claims {
            sub: user.0.to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
            sid: session.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(Issued {
            token,
            session,
            exp: claims.exp,
        })
    }

    /// The user and session a token was issued for, if it is signed by us
    /// with HS256 and has not expired (revocation is the node's check).
    /// Tokens without a session (issued before sessions existed) are
    /// invalid.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => {
                let claims = data.claims;
                match (claims.sub.parse::<i64>(), claims.sid.parse::<uuid::Uuid>()) {
                    (Ok(id), Ok(session)) if id > 0 && !claims.sub.starts_with('+') => {
                        Ok(Verified {
                            user: UserId(id),
                            session,
                            exp: claims.exp,
                        })
                    }
                    _ => Err(TokenError::Invalid),
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::from(secret), Duration::from_secs(3600))
    }

    #[test]
    fn a_token_verifies_only_with_its_own_key() {
        let a = keys("a-secret-that-is-long-enough-for-hs256!!");
        let b = keys("another-secret-that-is-long-enough-too!!");
        let issued = a.issue(UserId(42)).unwrap();
        let verified = a.verify(&issued.token).unwrap();
        assert_eq!(verified.user, UserId(42));
        assert_eq!(verified.session, issued.session);
        assert_eq!(b.verify(&issued.token), Err(TokenError::Invalid));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let secret = "a-secret-that-is-long-enough-for-hs256!!";
        let now = now_ms() / 1000;
        let claims = Claims {
            sub: "1".to_owned(),
            iat: now,
            exp: now + 60,
            sid: uuid::Uuid::new_v4().to_string(),
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert_eq!(keys(secret).verify(&hs512), Err(TokenError::Invalid));
    }
}
