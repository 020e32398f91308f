//! The social graph as the message path needs it: "are A and B friends",
//! "who is in group G". Read on every `send` (node) and every group message
//! (dispatcher), so it is cached in Redis instead of asking Postgres each
//! time.
//!
//! Layout (under the configured prefix; shapes in `crate::keys`), both with
//! [`CACHE_TTL`]:
//! - `friends` of a user: a set of the user's friends' ids, plus the
//!   sentinel `-` so that "no friends" is a cached answer too;
//! - `members` of a group: a set of the group's member ids plus `-`; a group
//!   that does not exist is cached as the set of `-` and `!`.
//!
//! The REST handlers that change friendships or memberships delete the keys
//! they touch after committing, so the next check reads Postgres again. A
//! fill that raced a change can keep a stale answer for at most the TTL.

use std::collections::HashSet;
use std::time::Duration;

use redis::Cmd;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::{friendships, group_members, groups};
use crate::ids::{GroupId, UserId};
use crate::keys::Keyspace;
use crate::redis::{Batch, Redis};
use crate::wire::Target;

/// How long a cached set lives without being invalidated.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

const PRESENT: &str = "-";
const NO_SUCH_GROUP: &str = "!";

/// A failure of the cache or of the database behind it.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("postgres: {0}")]
    Db(#[from] DbErr),
}

/// The cache lookup a send's authorization needs — "is the recipient a
/// friend", "is the sender a member" — as commands that ride in another
/// batch (the node sends them with the client-id claim: one round trip per
/// send; in a cluster, a group's lookup is a pipeline of its own, sent at
/// the same time, since the group's key is in another slot than the
/// sender's).
#[derive(Debug, Clone)]
pub struct Lookup {
    key: String,
    member: i64,
}

/// What the cache alone says about a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// Not cached (or expired): ask [`SocialCache`] the long way.
    Unknown,
    /// A friend, or a member.
    Yes,
    /// Not a friend, or not a member.
    No,
    /// The group does not exist.
    NoSuchGroup,
}

impl Lookup {
    /// Adds the lookup's three commands to `batch`; their replies read as
    /// `(bool, bool, bool)` for [`Lookup::read`].
    pub fn add_to(&self, batch: &mut Batch) {
        batch
            .add(&self.key, Cmd::exists(&self.key))
            .add(&self.key, Cmd::sismember(&self.key, self.member))
            .add(&self.key, Cmd::sismember(&self.key, NO_SUCH_GROUP));
    }

    /// The answer, from the replies of [`Lookup::add_to`]'s commands.
    pub fn read((cached, member, missing): (bool, bool, bool)) -> Cached {
        match (cached, missing, member) {
            (false, _, _) => Cached::Unknown,
            (true, true, _) => Cached::NoSuchGroup,
            (true, false, true) => Cached::Yes,
            (true, false, false) => Cached::No,
        }
    }
}

/// The cached social graph.
#[derive(Clone)]
pub struct SocialCache {
    redis: Redis,
    db: DatabaseConnection,
    keys: Keyspace,
}

impl std::fmt::Debug for SocialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocialCache")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl SocialCache {
    /// A cache in `redis` under `prefix`, filled from `db`.
    pub fn new(redis: impl Into<Redis>, db: DatabaseConnection, prefix: impl Into<String>) -> Self {
        Self {
            redis: redis.into(),
            db,
            keys: Keyspace::new(prefix),
        }
    }

    fn friends_key(&self, user: UserId) -> String {
        self.keys.friends(user)
    }

    fn members_key(&self, group: GroupId) -> String {
        self.keys.members(group)
    }

    /// What to ask the cache about `from` writing to `to`: whether `to` is
    /// among `from`'s friends, or `from` among the group's members.
    pub fn lookup(&self, from: UserId, to: Target) -> Lookup {
        match to {
            Target::User(to) => Lookup {
                key: self.friends_key(from),
                member: to.0,
            },
            Target::Group(group) => Lookup {
                key: self.members_key(group),
                member: from.0,
            },
        }
    }

    /// Whether `a` and `b` are friends.
    pub async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool, SocialError> {
        let key = self.friends_key(a);
        let (cached, member): (bool, bool) = redis::pipe()
            .exists(&key)
            .sismember(&key, b.0)
            .query_async(&mut self.redis.clone())
            .await?;
        if cached {
            return Ok(member);
        }
        let friends = self.load_friends(a).await?;
        self.fill(&key, friends.iter().map(|f| f.0.to_string()).collect())
            .await?;
        Ok(friends.contains(&b))
    }

    /// The friends of `user`.
    pub async fn friends(&self, user: UserId) -> Result<HashSet<UserId>, SocialError> {
        let key = self.friends_key(user);
        let cached: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&key)
            .query_async(&mut self.redis.clone())
            .await?;
        if !cached.is_empty() {
            return Ok(cached
                .iter()
                .filter_map(|m| m.parse().ok())
                .map(UserId)
                .collect());
        }
        let friends = self.load_friends(user).await?;
        self.fill(&key, friends.iter().map(|f| f.0.to_string()).collect())
            .await?;
        Ok(friends)
    }

    /// The members of `group`, or `None` if there is no such group.
    pub async fn members(&self, group: GroupId) -> Result<Option<HashSet<UserId>>, SocialError> {
        let key = self.members_key(group);
        let cached: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&key)
            .query_async(&mut self.redis.clone())
            .await?;
        if !cached.is_empty() {
            if cached.iter().any(|m| m == NO_SUCH_GROUP) {
                return Ok(None);
            }
            return Ok(Some(
                cached
                    .iter()
                    .filter_map(|m| m.parse().ok())
                    .map(UserId)
                    .collect(),
            ));
        }
        let members = self.load_members(group).await?;
        let entries = match &members {
            Some(members) => members.iter().map(|m| m.0.to_string()).collect(),
            None => vec![NO_SUCH_GROUP.to_owned()],
        };
        self.fill(&key, entries).await?;
        Ok(members)
    }

    /// Whether `user` is in `group`, or `None` if there is no such group.
    pub async fn is_member(
        &self,
        group: GroupId,
        user: UserId,
    ) -> Result<Option<bool>, SocialError> {
        let key = self.members_key(group);
        let (cached, member, missing): (bool, bool, bool) = redis::pipe()
            .exists(&key)
            .sismember(&key, user.0)
            .sismember(&key, NO_SUCH_GROUP)
            .query_async(&mut self.redis.clone())
            .await?;
        if cached {
            return Ok((!missing).then_some(member));
        }
        Ok(self.members(group).await?.map(|m| m.contains(&user)))
    }

    /// Forgets the cached friends of `users` (after a friendship changed):
    /// a DEL per user, in one round trip (per slot, in a cluster).
    pub async fn invalidate_friends(&self, users: &[UserId]) -> redis::RedisResult<()> {
        let mut batch = Batch::new();
        for &user in users {
            let key = self.friends_key(user);
            batch.add(&key, Cmd::del(&key));
        }
        self.redis.run(batch).await
    }

    /// Forgets the cached members of `group` (after a membership changed).
    pub async fn invalidate_members(&self, group: GroupId) -> redis::RedisResult<()> {
        redis::cmd("DEL")
            .arg(self.members_key(group))
            .exec_async(&mut self.redis.clone())
            .await
    }

    async fn fill(&self, key: &str, mut entries: Vec<String>) -> redis::RedisResult<()> {
        entries.push(PRESENT.to_owned());
        let ttl = i64::try_from(CACHE_TTL.as_secs()).unwrap_or(60);
        redis::pipe()
            .atomic()
            .del(key)
            .ignore()
            .sadd(key, entries)
            .ignore()
            .expire(key, ttl)
            .ignore()
            .exec_async(&mut self.redis.clone())
            .await
    }

    async fn load_friends(&self, user: UserId) -> Result<HashSet<UserId>, DbErr> {
        Ok(friendships::friends_of(&self.db, user)
            .await?
            .into_iter()
            .collect())
    }

    async fn load_members(&self, group: GroupId) -> Result<Option<HashSet<UserId>>, DbErr> {
        if groups::Entity::find_by_id(group.0)
            .one(&self.db)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = group_members::Entity::find()
            .filter(group_members::Column::GroupId.eq(group.0))
            .all(&self.db)
            .await?;
        Ok(Some(rows.into_iter().map(|m| UserId(m.user_id)).collect()))
    }
}

#[cfg(test)]
mod tests;
