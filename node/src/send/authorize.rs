//! Whether a user may send to a target: direct messages go to friends only,
//! group messages come from members only. Answered from the social cache
//! (`confab_common::social`), never a database query per message; only a
//! refusal looks the recipient up, to say which refusal it is.

use confab_common::UserId;
use confab_common::social::{Cached, Lookup, SocialCache};
use confab_common::wire::{ErrorCode, Target};
use sea_orm::DatabaseConnection;

use crate::store;

/// Why a send may not go out: the `error` frame's code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub code: ErrorCode,
    pub message: &'static str,
}

impl Denied {
    /// A dependency did not answer: the client sends again with the same id.
    pub const UNAVAILABLE: Denied = Denied {
        code: ErrorCode::Unavailable,
        message: "the service is briefly unavailable; send again with the same id",
    };
    const NO_SUCH_USER: Denied = Denied::of(ErrorCode::NoSuchUser);
    const NOT_FRIENDS: Denied = Denied::of(ErrorCode::NotFriends);
    const NOT_MEMBER: Denied = Denied::of(ErrorCode::NotMember);
    const NO_SUCH_GROUP: Denied = Denied::of(ErrorCode::NoSuchGroup);

    /// A refusal with `code` and its own text ([`ErrorCode::message`]).
    pub const fn of(code: ErrorCode) -> Denied {
        Denied {
            code,
            message: code.message(),
        }
    }
}

/// Answers "may `user` send to `to`?".
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub social: SocialCache,
    pub db: DatabaseConnection,
}

impl Authorizer {
    /// What to ask the social cache (with the claim, in one round trip).
    pub fn lookup(&self, user: UserId, to: Target) -> Lookup {
        self.social.lookup(user, to)
    }

    /// Friends only, members only: from the cache's answer to the lookup
    /// when it has one, else the long way.
    pub async fn authorize(&self, user: UserId, to: Target, cached: Cached) -> Result<(), Denied> {
        match (to, cached) {
            (Target::User(other), Cached::Yes) if other != user => Ok(()),
            (Target::Group(_), Cached::Yes) => Ok(()),
            (Target::Group(_), Cached::No) => Err(Denied::NOT_MEMBER),
            (Target::Group(_), Cached::NoSuchGroup) => Err(Denied::NO_SUCH_GROUP),
            _ => self.look_up(user, to).await,
        }
    }

    /// Friends only, members only, asking the cache (filling it on a miss).
    async fn look_up(&self, user: UserId, to: Target) -> Result<(), Denied> {
        match to {
            Target::User(other) => self.direct(user, other).await,
            Target::Group(group) => match self.social.is_member(group, user).await {
                Ok(Some(true)) => Ok(()),
                Ok(Some(false)) => Err(Denied::NOT_MEMBER),
                Ok(None) => Err(Denied::NO_SUCH_GROUP),
                Err(e) => Err(unavailable(&e)),
            },
        }
    }

    async fn direct(&self, user: UserId, other: UserId) -> Result<(), Denied> {
        if other != user {
            match self.social.are_friends(user, other).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(unavailable(&e)),
            }
        }
        match store::users::exists(&self.db, other).await {
            Ok(false) => Err(Denied::NO_SUCH_USER),
            Ok(true) => Err(Denied::NOT_FRIENDS),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

fn unavailable(e: &dyn std::fmt::Display) -> Denied {
    tracing::warn!(error = %e, "cannot check the social graph");
    Denied::UNAVAILABLE
}
