//! Every Redis key Confab writes, in one place: what [`crate::topology`] is
//! to RabbitMQ's queues, this is to Redis. No key is spelled anywhere else;
//! each shape below says its type, its lifetime and the one module that
//! owns it (writes it and reads it back).
//!
//! Redis holds nothing that cannot be rebuilt: presence is announced again
//! by every node (`heartbeat` finds the record missing), caches are read
//! again from Postgres, and what a lost throttle or limit lets through is
//! one extra `typing` or log-in attempt. All keys of a deployment start
//! with its `REDIS_KEY_PREFIX` (tests give each test its own).

use crate::ids::{NodeId, UserId};
use crate::wire::Target;
use std::fmt::Display;
use std::sync::Arc;

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

    /// `presence:{user}`: hash, connection key → connected at (Unix ms).
    /// Lives `presence::PRESENCE_KEY_TTL` (24 h) from the user's latest
    /// connect; a field of a dead node is ignored, then reaped. Owner:
    /// `presence`.
    pub fn presence(&self, user: UserId) -> String {
        self.key(format_args!("presence:{}", user.0))
    }

    /// `nodes`: hash, node id → `incarnation:alive_until_ms`. No TTL: a
    /// record lives `presence::NODE_TTL` past its last heartbeat and is then
    /// claimed, once, by a reaper. Owner: `presence`.
    pub fn nodes(&self) -> String {
        self.key("nodes")
    }

    /// `node_users:{node}:{incarnation}`: set of the user ids one node
    /// process ever held, for the reaper. No TTL: deleted when the process
    /// stops or is reaped. Owner: `presence`.
    pub fn node_users(&self, node: NodeId, incarnation: u64) -> String {
        self.key(format_args!("node_users:{}:{incarnation}", node.0))
    }

    /// `friends:{user}`: set of friend ids (or a marker for none). Lives
    /// `social::CACHE_TTL` (60 s); deleted when a friendship changes.
    /// Owner: `social`.
    pub fn friends(&self, user: UserId) -> String {
        self.key(format_args!("friends:{}", user.0))
    }

    /// `members:{group}`: set of member ids (or a marker for no such group).
    /// Lives `social::CACHE_TTL` (60 s); deleted when membership changes.
    /// Owner: `social`.
    pub fn members(&self, group: crate::ids::GroupId) -> String {
        self.key(format_args!("members:{}", group.0))
    }

    /// `dispatcher_home:{shard}`: string, the dispatcher instance that owns
    /// an `input` shard. Lives `HOME_TTL` (15 s) past its owner's last
    /// announcement. Owner: `dispatcher/src/homes.rs`.
    pub fn dispatcher_home(&self, shard: u16) -> String {
        self.key(format_args!("dispatcher_home:{shard}"))
    }

    /// `dedup:{user}:{client_id}`: string, the `msg_id:ts` a client id was
    /// given (or a pending claim). Lives `DEDUP_TTL` (48 h). Owner:
    /// `node/src/send/dedup.rs`.
    pub fn dedup(&self, user: UserId, client_id: &str) -> String {
        self.key(format_args!("dedup:{}:{client_id}", user.0))
    }

    /// `typing:{user}:u{other}` / `typing:{user}:g{group}`: the typing
    /// throttle of one user in one conversation. Lives `TYPING_INTERVAL`
    /// (3 s). Owner: `node/src/send/signal.rs`.
    pub fn typing(&self, user: UserId, conv: Target) -> String {
        match conv {
            Target::User(u) => self.key(format_args!("typing:{}:u{}", user.0, u.0)),
            Target::Group(g) => self.key(format_args!("typing:{}:g{}", user.0, g.0)),
        }
    }

    /// `ws_ticket:{ticket}`: string, `user:session:exp` of the session a
    /// WebSocket ticket names. Lives `TICKET_TTL` (30 s), deleted when
    /// redeemed. Owner: `node/src/auth/tickets.rs`.
    pub fn ws_ticket(&self, ticket: &str) -> String {
        self.key(format_args!("ws_ticket:{ticket}"))
    }

    /// `limit:{what}:{addr}:{minute}`: counter of sign-ups or log-ins from
    /// one address in one minute. Lives 120 s. Owner:
    /// `node/src/auth/limits.rs`.
    pub fn address_limit(&self, what: &str, addr: impl Display, minute: i64) -> String {
        self.key(format_args!("limit:{what}:{addr}:{minute}"))
    }

    /// `login_failures:{account}`: counter of an account's failed log-ins
    /// (account lower-cased). Lives `FAILURES_KEPT` from the latest one.
    /// Owner: `node/src/auth/limits.rs`.
    pub fn login_failures(&self, account: &str) -> String {
        self.key(format_args!("login_failures:{account}"))
    }

    /// `login_wait:{account}`: present while an account must wait before
    /// its next log-in; lives the wait. Owner: `node/src/auth/limits.rs`.
    pub fn login_wait(&self, account: &str) -> String {
        self.key(format_args!("login_wait:{account}"))
    }

    /// `revocations`: a pub/sub channel (not a key): revoked sessions, for
    /// every node to apply at once. Nothing is kept: a node that was not
    /// listening reads them from Postgres. Owner:
    /// `node/src/auth/revocations.rs`.
    pub fn revocations(&self) -> String {
        self.key("revocations")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GroupId;

    #[test]
    fn every_key_starts_with_the_prefix_and_says_what_it_holds() {
        let keys = Keyspace::new("confab:");
        assert_eq!(keys.presence(UserId(7)), "confab:presence:7");
        assert_eq!(keys.nodes(), "confab:nodes");
        assert_eq!(keys.node_users(NodeId(3), 99), "confab:node_users:3:99");
        assert_eq!(keys.friends(UserId(7)), "confab:friends:7");
        assert_eq!(keys.members(GroupId(4)), "confab:members:4");
        assert_eq!(keys.dispatcher_home(2), "confab:dispatcher_home:2");
        assert_eq!(keys.dedup(UserId(7), "c-1"), "confab:dedup:7:c-1");
        assert_eq!(
            keys.typing(UserId(7), Target::User(UserId(8))),
            "confab:typing:7:u8"
        );
        assert_eq!(
            keys.typing(UserId(7), Target::Group(GroupId(4))),
            "confab:typing:7:g4"
        );
        assert_eq!(keys.ws_ticket("ab12"), "confab:ws_ticket:ab12");
        assert_eq!(
            keys.address_limit("login", "10.0.0.1", 5),
            "confab:limit:login:10.0.0.1:5"
        );
        assert_eq!(keys.login_failures("ana"), "confab:login_failures:ana");
        assert_eq!(keys.login_wait("ana"), "confab:login_wait:ana");
        assert_eq!(keys.revocations(), "confab:revocations");
    }
}
