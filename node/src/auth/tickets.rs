//! WebSocket tickets: browsers cannot set headers on a WebSocket, and a
//! credential in a URL lands in logs (`/ws` refuses one there). A ticket is
//! asked for over REST with the token, names the same session, is valid
//! for [`TICKET_TTL`] and is taken by the first `/ws` that offers it as the
//! subprotocol `confab.ticket.<ticket>` (`crate::ws::credential`).

use std::time::Duration;

use confab_common::UserId;
use confab_common::auth::Verified;
use redis::AsyncCommands;

use crate::auth::Tokens;
use crate::error::{ApiError, ErrorCode};

/// How long a ticket may wait for its connection.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

impl Tokens {
    fn ticket_key(&self, ticket: &str) -> String {
        self.redis_keys.ws_ticket(ticket)
    }

    /// A new ticket for `verified`'s session.
    pub async fn ticket(&self, verified: &Verified) -> Result<String, ApiError> {
        // 122 random bits from the OS generator.
        let ticket = uuid::Uuid::new_v4().simple().to_string();
        let value = format!("{}:{}:{}", verified.user.0, verified.session, verified.exp);
        let mut redis = self.redis.clone();
        let ttl = u64::try_from(TICKET_TTL.as_millis()).unwrap_or(u64::MAX);
        let () = redis.pset_ex(self.ticket_key(&ticket), value, ttl).await?;
        Ok(ticket)
    }

    /// The session `ticket` names, once: the ticket is gone after this.
    /// 401 `invalid_ticket` for an unknown, used or expired one.
    pub async fn redeem(&self, ticket: &str) -> Result<Verified, ApiError> {
        let invalid = || ApiError::unauthorized(ErrorCode::InvalidTicket);
        if ticket.is_empty() || ticket.len() > 64 || !ticket.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(invalid());
        }
        let mut redis = self.redis.clone();
        let value: Option<String> = redis.get_del(self.ticket_key(ticket)).await?;
        let verified = value.as_deref().and_then(parse).ok_or_else(invalid)?;
        if verified.exp <= confab_common::ids::now_ms() / 1000 {
            return Err(ApiError::unauthorized(ErrorCode::TokenExpired));
        }
        self.check_session(&verified)?;
        Ok(verified)
    }
}

fn parse(value: &str) -> Option<Verified> {
    let mut parts = value.splitn(3, ':');
    Some(Verified {
        user: UserId(parts.next()?.parse().ok()?),
        session: parts.next()?.parse().ok()?,
        exp: parts.next()?.parse().ok()?,
    })
}
