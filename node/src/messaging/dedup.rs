//! Client ids: sending the same client `id` again (same sender) yields the
//! same `msg_id` and no second delivery, for [`DEDUP_TTL`].
//!
//! Layout: `dedup:{user_id}:{client_id}` → `{msg_id}:{ts}:{state}` where the
//! state is `p` (published, confirm not yet seen) or `s` (confirmed). A
//! repeat of an `s` id is answered `sent` without publishing; a repeat of a
//! `p` id is published again *with the same msg_id*, which the dispatcher
//! stores idempotently — so a node that died between publish and confirm
//! neither loses the message nor makes a second one.

use std::time::Duration;

use confab_common::{MessageId, UserId};
use redis::aio::ConnectionManager;

/// How long a client id is remembered (the contract promises at least 24 h).
pub const DEDUP_TTL: Duration = Duration::from_secs(48 * 3600);

/// What a client id already stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// New: publish with the proposed id.
    New,
    /// Published before, confirm not recorded: publish again with this id.
    Pending { msg_id: MessageId, ts: i64 },
    /// Confirmed before: answer `sent` with this id.
    Sent { msg_id: MessageId, ts: i64 },
}

/// The client-id memory.
#[derive(Clone)]
pub struct Dedup {
    redis: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedup")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Dedup {
    /// Client ids kept in `redis` under `prefix`.
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
        }
    }

    fn key(&self, user: UserId, client_id: &str) -> String {
        format!("{}dedup:{}:{}", self.prefix, user.0, client_id)
    }

    /// Claims `client_id` for (`msg_id`, `ts`) unless it already stands for
    /// a message, in one round trip (`SET NX GET`).
    pub async fn claim(
        &self,
        user: UserId,
        client_id: &str,
        msg_id: MessageId,
        ts: i64,
    ) -> redis::RedisResult<Seen> {
        let previous: Option<String> = redis::cmd("SET")
            .arg(self.key(user, client_id))
            .arg(format!("{}:{ts}:p", msg_id.0))
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(DEDUP_TTL.as_secs())
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(previous.as_deref().and_then(parse).unwrap_or(Seen::New))
    }

    /// Forgets `client_id` (its send was refused before anything was published).
    pub async fn release(&self, user: UserId, client_id: &str) -> redis::RedisResult<()> {
        redis::cmd("DEL")
            .arg(self.key(user, client_id))
            .exec_async(&mut self.redis.clone())
            .await
    }

    /// Records that `client_id`'s message was confirmed by the broker.
    pub async fn confirm(
        &self,
        user: UserId,
        client_id: &str,
        msg_id: MessageId,
        ts: i64,
    ) -> redis::RedisResult<()> {
        redis::cmd("SET")
            .arg(self.key(user, client_id))
            .arg(format!("{}:{ts}:s", msg_id.0))
            .arg("XX")
            .arg("KEEPTTL")
            .exec_async(&mut self.redis.clone())
            .await
    }
}

fn parse(value: &str) -> Option<Seen> {
    let mut parts = value.split(':');
    let msg_id = MessageId(parts.next()?.parse().ok()?);
    let ts = parts.next()?.parse().ok()?;
    match parts.next()? {
        "s" => Some(Seen::Sent { msg_id, ts }),
        "p" => Some(Seen::Pending { msg_id, ts }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_parse() {
        assert_eq!(
            parse("12:34:s"),
            Some(Seen::Sent {
                msg_id: MessageId(12),
                ts: 34
            })
        );
        assert_eq!(
            parse("12:34:p"),
            Some(Seen::Pending {
                msg_id: MessageId(12),
                ts: 34
            })
        );
        assert_eq!(parse("12:34:x"), None);
        assert_eq!(parse("garbage"), None);
    }
}
