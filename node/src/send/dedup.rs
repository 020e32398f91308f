//! Client ids: sending the same client `id` again (same sender) yields the
//! same `msg_id` and no second delivery, for [`DEDUP_TTL`].
//!
//! Layout: the `dedup` key of (user, client id) (`confab_common::keys`) →
//! `<msg_id>:<ts>:<state>` where the state is `p` (published, confirm not
//! yet seen) or `s` (confirmed). A repeat of an `s` id is answered `sent`
//! without publishing; a repeat of a `p` id is published again *with the
//! same msg_id*, which the dispatcher stores idempotently — so a node that
//! died between publish and confirm neither loses the message nor makes a
//! second one.
//!
//! Round trips: the claim carries the send's social-cache lookup in the same
//! batch (one round trip per send in the steady state), and confirms are
//! recorded by one writer per node, many per batch. In a Redis Cluster a
//! batch is one pipeline per slot, sent at once: the claim and a friend
//! lookup share the sender's slot (`confab_common::keys`), a group lookup
//! is in the group's; the confirms of many senders spread over the slots.

use std::time::Duration;

use confab_common::keys::Keyspace;
use confab_common::redis::{Batch, Redis};
use confab_common::social::{Cached, Lookup};
use confab_common::{MessageId, UserId};
use redis::Cmd;
use tokio::sync::mpsc;

/// Confirms waiting to be recorded, at most; past it a record is dropped
/// (a repeat of that id then publishes the same `msg_id` again, which
/// storage absorbs).
const CONFIRMS_QUEUED: usize = 16_384;

/// Most confirms recorded in one batch.
const CONFIRMS_PER_WRITE: usize = 512;

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
    redis: Redis,
    keys: Keyspace,
    /// To the confirm writer: (key, value) records.
    confirms: mpsc::Sender<(String, String)>,
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedup")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl Dedup {
    /// Client ids kept in `redis` under `prefix`. Starts the confirm
    /// writer, which ends when the last clone of this is dropped.
    pub fn new(redis: impl Into<Redis>, prefix: impl Into<String>) -> Self {
        let redis = redis.into();
        let (confirms, queued) = mpsc::channel(CONFIRMS_QUEUED);
        tokio::spawn(record_confirms(redis.clone(), queued));
        Self {
            redis,
            keys: Keyspace::new(prefix),
            confirms,
        }
    }

    fn key(&self, user: UserId, client_id: &str) -> String {
        self.keys.dedup(user, client_id)
    }

    /// Claims `client_id` of `user` for a new message (`fresh`, accepted at
    /// `now`) unless it already stands for one (`SET NX GET`), and asks the
    /// social cache `lookup`, in one round trip. The [`Claim`] says which
    /// message the send is about and is resolved by what happens next:
    /// [`Claim::release`] if the send was refused, [`Claim::confirmed`] once
    /// the broker has it.
    pub async fn claim(
        &self,
        user: UserId,
        client_id: &str,
        fresh: MessageId,
        now: i64,
        lookup: &Lookup,
    ) -> redis::RedisResult<(Claim, Cached)> {
        let key = self.key(user, client_id);
        let mut set = redis::cmd("SET");
        set.arg(&key)
            .arg(format!("{}:{now}:p", fresh.0))
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(DEDUP_TTL.as_secs());
        let mut batch = Batch::new();
        batch.add(&key, set);
        lookup.add_to(&mut batch);
        let (previous, cached, member, missing): (Option<String>, bool, bool, bool) =
            self.redis.run(batch).await?;
        let seen = previous.as_deref().and_then(parse).unwrap_or(Seen::New);
        let (msg_id, ts) = match seen {
            Seen::New => (fresh, now),
            Seen::Pending { msg_id, ts } | Seen::Sent { msg_id, ts } => (msg_id, ts),
        };
        let claim = Claim {
            redis: self.redis.clone(),
            confirms: self.confirms.clone(),
            key,
            seen,
            msg_id,
            ts,
        };
        Ok((claim, Lookup::read((cached, member, missing))))
    }
}

/// Records confirms until every [`Dedup`] is gone: whatever is queued, up
/// to [`CONFIRMS_PER_WRITE`], in one batch.
async fn record_confirms(redis: Redis, mut queued: mpsc::Receiver<(String, String)>) {
    let mut confirms = Vec::with_capacity(CONFIRMS_PER_WRITE);
    while queued.recv_many(&mut confirms, CONFIRMS_PER_WRITE).await > 0 {
        if let Err(e) = write_confirms(&redis, confirms.drain(..)).await {
            tracing::warn!(error = %e, "cannot record confirms");
        }
    }
}

/// Records `confirms` (key, value) over claims that still exist, keeping
/// their expiry.
async fn write_confirms(
    redis: &Redis,
    confirms: impl Iterator<Item = (String, String)>,
) -> redis::RedisResult<()> {
    let mut batch = Batch::new();
    for (key, value) in confirms {
        let mut set = Cmd::set(&key, value);
        set.arg("XX").arg("KEEPTTL");
        batch.add(&key, set);
    }
    redis.run(batch).await
}

/// A client id claimed for one message. Dropped without being resolved (the
/// publish failed, or its confirm never came) it stays *pending*: a repeat
/// of the id publishes the same `msg_id` again, which storage absorbs.
#[must_use = "a claim is released on refusal or confirmed on publish"]
pub struct Claim {
    redis: Redis,
    confirms: mpsc::Sender<(String, String)>,
    key: String,
    seen: Seen,
    msg_id: MessageId,
    ts: i64,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("key", &self.key)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl Claim {
    /// What the id stood for before this claim.
    pub fn seen(&self) -> Seen {
        self.seen
    }

    /// The message this send is about: new, or the one the id stands for.
    pub fn message(&self) -> (MessageId, i64) {
        (self.msg_id, self.ts)
    }

    /// The send was refused before anything was published: a claim made
    /// just now is given up, so the id may be used for a later send.
    pub async fn release(self) {
        if self.seen != Seen::New {
            return;
        }
        let released = redis::cmd("DEL")
            .arg(&self.key)
            .exec_async(&mut self.redis.clone())
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "cannot release a refused client id");
        }
    }

    /// The broker confirmed the message: a repeat of the id is answered
    /// `sent` from now on. Recorded by the node's confirm writer, so that
    /// the `sent` does not wait for Redis; if the record is lost, a repeat
    /// publishes the same `msg_id` again, harmlessly.
    pub fn confirmed(self) {
        let value = format!("{}:{}:s", self.msg_id.0, self.ts);
        if self.confirms.try_send((self.key, value)).is_err() {
            tracing::debug!("confirm writer behind; a confirm is not recorded");
        }
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
mod tests;
