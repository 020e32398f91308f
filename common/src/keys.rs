//! Every Redis key Confab writes, in one place: what [`crate::topology`] is
//! to RabbitMQ's queues, this is to Redis. No key is spelled anywhere else;
//! each shape below says its type, its lifetime and the one module that
//! owns it (writes it and reads it back). In the shapes, `<x>` is a value
//! and `{…}` is literal: a hash tag.
//!
//! Redis holds nothing that cannot be rebuilt: presence is announced again
//! by every node (`heartbeat` finds the record missing), caches are read
//! again from Postgres, and what a lost throttle or limit lets through is
//! one extra `typing` or log-in attempt. All keys of a deployment start
//! with its `REDIS_KEY_PREFIX` (tests give each test its own), which holds
//! no `{` or `}` (`RedisConfig::validate`), so a key's first `{…}` is ours.
//!
//! # Hash tags (Redis Cluster)
//!
//! A cluster runs a multi-key command, a MULTI/EXEC or a script only if all
//! its keys are in one of the 16,384 slots, and a key's slot is CRC16 of
//! its hash tag (the text between its first `{` and the next `}`) or, with
//! no tag, of the whole key ([`slot`]). So keys that are used together
//! carry the same tag:
//!
//! - a user's keys (`presence`, `dedup`, `friends`, `typing`) carry the tag
//!   of the user's *bucket*, id mod [`BUCKETS`]; a group's `members` that
//!   of the group's bucket. Bucket `i`'s tag ([`bucket_tag`]) is a short
//!   string found once by search so that its slot lies inside the `i`-th of
//!   [`BUCKETS`] equal slot ranges. `redis-cli --cluster create` gives each
//!   of M masters one contiguous equal range, so for every M dividing 24
//!   (1, 2, 3, 4, 6, 8, 12, 24) each master holds 24 / M buckets: users
//!   spread evenly, where bare tags like `{0}`, `{1}` would land anywhere.
//!   The tags are part of the key names: changing [`BUCKETS`] or the search
//!   renames every per-user key (presence is announced again, but the 48 h
//!   `dedup` window is lost once);
//! - the node registry (`nodes`, `node_users`) shares the fixed tag
//!   [`REGISTRY_TAG`], so a node's removal and a reaper's claim are one
//!   slot;
//! - an account's `login_failures` and `login_wait` share the account as
//!   their tag.
//!
//! The other keys are used one at a time and carry no tag. Commands over
//! many users' keys are split by slot (`crate::redis::Batch`). On a single
//! Redis the tags change nothing but the names.

use crate::ids::{GroupId, NodeId, UserId};
use crate::wire::Target;
use std::fmt::Display;
use std::sync::{Arc, LazyLock};

/// How many buckets users and groups are spread over: divisible by 2, 3, 4,
/// 6, 8 and 12, so that each master of such a cluster gets as many.
pub const BUCKETS: usize = 24;

/// The hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16_384;

/// The tag of the node registry's keys.
pub const REGISTRY_TAG: &str = "registry";

/// Candidates whose slot is this close to a bucket's edge are passed over,
/// so that rounding in a master's range (`redis-cli` rounds to whole slots)
/// cannot move a bucket to the neighbouring master.
const EDGE: u32 = 4;

/// The Redis Cluster slot of `key`: CRC16 (XMODEM, as Redis computes it) of
/// its hash tag if it has a non-empty one (between its first `{` and the
/// next `}`), of the whole key otherwise, mod [`SLOTS`].
pub fn slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            Some(&rest[..close])
        })
        .filter(|tag| !tag.is_empty())
        .unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// The bucket a slot falls in: `slot × BUCKETS / SLOTS`, rounded down.
pub fn bucket_of_slot(slot: u16) -> usize {
    usize::from(slot) * BUCKETS / usize::from(SLOTS)
}

/// The hash tag of each bucket: for bucket `i`, the first of `b<i>.0`,
/// `b<i>.1`, … whose slot is in bucket `i`'s range, [`EDGE`] slots clear of
/// its ends. Found in a few dozen tries each (a range is 1/24 of the slots).
static BUCKET_TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..BUCKETS)
        .map(|bucket| {
            (0u32..)
                .map(|n| format!("b{bucket}.{n}"))
                .find(|tag| inside(bucket, slot(tag.as_bytes())))
                .unwrap_or_default()
        })
        .collect()
});

/// Whether `slot` is in `bucket`'s range, [`EDGE`] slots clear of its ends.
fn inside(bucket: usize, slot: u16) -> bool {
    // Scaled by BUCKETS: bucket b is [b × SLOTS, (b + 1) × SLOTS).
    let scaled = u32::from(slot) * BUCKETS as u32;
    let start = bucket as u32 * u32::from(SLOTS);
    let margin = EDGE * BUCKETS as u32;
    scaled >= start + margin && scaled + margin < start + u32::from(SLOTS)
}

/// The hash tag of bucket `bucket` (taken mod [`BUCKETS`]).
pub fn bucket_tag(bucket: usize) -> &'static str {
    BUCKET_TAGS
        .get(bucket % BUCKETS)
        .map_or(REGISTRY_TAG, String::as_str)
}

/// The bucket of an id (users and groups alike): the id mod [`BUCKETS`].
fn bucket(id: i64) -> usize {
    usize::try_from(id.rem_euclid(BUCKETS as i64)).unwrap_or(0)
}

/// The keys of one deployment (one prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    prefix: Arc<str>,
}

impl Keyspace {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: Arc::from(prefix.into()),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: impl Display) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// `presence:{<user's bucket tag>}:<user>`: hash, connection key →
    /// connected at (Unix ms). Lives `presence::PRESENCE_KEY_TTL` (24 h)
    /// from the user's latest connect; a field of a dead node is ignored,
    /// then reaped. Owner: `presence`.
    pub fn presence(&self, user: UserId) -> String {
        let tag = bucket_tag(bucket(user.0));
        self.key(format_args!("presence:{{{tag}}}:{}", user.0))
    }

    /// `nodes:{registry}`: hash, node id → `incarnation:alive_until_ms`. No
    /// TTL: a record lives `presence::NODE_TTL` past its last heartbeat and
    /// is then claimed, once, by a reaper. Owner: `presence`.
    pub fn nodes(&self) -> String {
        self.key(format_args!("nodes:{{{REGISTRY_TAG}}}"))
    }

    /// `node_users:{registry}:<node>:<incarnation>`: set of the user ids one
    /// node process ever held, for the reaper. No TTL: deleted when the
    /// process stops or is reaped. Owner: `presence`.
    pub fn node_users(&self, node: NodeId, incarnation: u64) -> String {
        self.key(format_args!(
            "node_users:{{{REGISTRY_TAG}}}:{}:{incarnation}",
            node.0
        ))
    }

    /// `friends:{<user's bucket tag>}:<user>`: set of friend ids (or a
    /// marker for none). Lives `social::CACHE_TTL` (60 s); deleted when a
    /// friendship changes. Owner: `social`.
    pub fn friends(&self, user: UserId) -> String {
        let tag = bucket_tag(bucket(user.0));
        self.key(format_args!("friends:{{{tag}}}:{}", user.0))
    }

    /// `members:{<group's bucket tag>}:<group>`: set of member ids (or a
    /// marker for no such group). Lives `social::CACHE_TTL` (60 s); deleted
    /// when membership changes. Owner: `social`.
    pub fn members(&self, group: GroupId) -> String {
        let tag = bucket_tag(bucket(group.0));
        self.key(format_args!("members:{{{tag}}}:{}", group.0))
    }

    /// `dispatcher_home:<shard>`: string, the dispatcher instance that owns
    /// an `input` shard. Lives `HOME_TTL` (15 s) past its owner's last
    /// announcement. Owner: `dispatcher/src/homes.rs`.
    pub fn dispatcher_home(&self, shard: u16) -> String {
        self.key(format_args!("dispatcher_home:{shard}"))
    }

    /// `dedup:{<user's bucket tag>}:<user>:<client_id>`: string, the
    /// `msg_id:ts` a client id was given (or a pending claim). Lives
    /// `DEDUP_TTL` (48 h). In the sender's slot, like the sender's
    /// `friends`, so a send's claim and its friend lookup are one pipeline.
    /// Owner: `node/src/send/dedup.rs`.
    pub fn dedup(&self, user: UserId, client_id: &str) -> String {
        let tag = bucket_tag(bucket(user.0));
        self.key(format_args!("dedup:{{{tag}}}:{}:{client_id}", user.0))
    }

    /// `typing:{<user's bucket tag>}:<user>:u<other>` /
    /// `typing:{…}:<user>:g<group>`: the typing throttle of one user in one
    /// conversation. Lives `TYPING_INTERVAL` (3 s). Owner:
    /// `node/src/send/signal.rs`.
    pub fn typing(&self, user: UserId, conv: Target) -> String {
        let tag = bucket_tag(bucket(user.0));
        match conv {
            Target::User(u) => self.key(format_args!("typing:{{{tag}}}:{}:u{}", user.0, u.0)),
            Target::Group(g) => self.key(format_args!("typing:{{{tag}}}:{}:g{}", user.0, g.0)),
        }
    }

    /// `ws_ticket:<ticket>`: string, `user:session:exp` of the session a
    /// WebSocket ticket names. Lives `TICKET_TTL` (30 s), deleted when
    /// redeemed. Owner: `node/src/auth/tickets.rs`.
    pub fn ws_ticket(&self, ticket: &str) -> String {
        self.key(format_args!("ws_ticket:{ticket}"))
    }

    /// `limit:<what>:<addr>:<minute>`: counter of sign-ups or log-ins from
    /// one address in one minute. Lives 120 s. Owner:
    /// `node/src/auth/limits.rs`.
    pub fn address_limit(&self, what: &str, addr: impl Display, minute: i64) -> String {
        self.key(format_args!("limit:{what}:{addr}:{minute}"))
    }

    /// `login_failures:{<account>}`: counter of an account's failed log-ins
    /// (account lower-cased: a username, never empty and without braces).
    /// Lives `FAILURES_KEPT` from the latest one. Same tag as the account's
    /// `login_wait`, which a successful log-in deletes with it. Owner:
    /// `node/src/auth/limits.rs`.
    pub fn login_failures(&self, account: &str) -> String {
        self.key(format_args!("login_failures:{{{account}}}"))
    }

    /// `login_wait:{<account>}`: present while an account must wait before
    /// its next log-in; lives the wait. Owner: `node/src/auth/limits.rs`.
    pub fn login_wait(&self, account: &str) -> String {
        self.key(format_args!("login_wait:{{{account}}}"))
    }

    /// `revocations`: a pub/sub channel (not a key): revoked sessions, for
    /// every node to apply at once. Nothing is kept: a node that was not
    /// listening reads them from Postgres. In a cluster a PUBLISH reaches
    /// the subscribers on every node. Owner: `node/src/auth/tokens.rs`.
    pub fn revocations(&self) -> String {
        self.key("revocations")
    }
}

#[cfg(test)]
mod tests;
