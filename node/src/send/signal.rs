//! A connection's `read` and `typing` frames: checked, stored (a read
//! position) or throttled (typing), then published to `input` as a
//! [`Signal`] for the dispatcher to pass on to the other participants'
//! devices (and the reader's own other devices), in order with the messages
//! around it. Neither has an answer; a refusal is an `error` frame.

use std::sync::Arc;
use std::time::Duration;

use confab_common::UserId;
use confab_common::envelope::{Input, Signal, SignalKind};
use confab_common::presence::ConnKey;
use confab_common::wire::{ErrorCode, Target};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;

use crate::send::authorize::{Authorizer, Denied};
use crate::send::publisher::Publisher;
use crate::store::log::{self, ReadError};

/// At most one `typing` per user and conversation is passed on in this long.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(3);

const NO_CONVERSATION: Denied = Denied {
    code: ErrorCode::NoSuchConversation,
    message: "you have no such conversation",
};

/// What signals need; shared by every connection of the node.
#[derive(Debug, Clone)]
pub struct Signals {
    pub db: DatabaseConnection,
    pub authorizer: Authorizer,
    pub publisher: Arc<Publisher>,
    /// Where the typing throttle lives (`{prefix}typing:{user}:{conv}`).
    pub redis: ConnectionManager,
    pub prefix: String,
}

impl Signals {
    /// `user` read `conv` up to `seq`: stores it and, if the position moved,
    /// tells the others.
    pub async fn read(
        &self,
        user: UserId,
        origin: ConnKey,
        conv: Target,
        seq: i64,
    ) -> Result<(), Denied> {
        let moved = match log::mark_read(&self.db, user, conv, seq).await {
            Ok(moved) => moved,
            Err(ReadError::NoConversation) => return Err(NO_CONVERSATION),
            Err(ReadError::Db(e)) => {
                tracing::warn!(error = %e, "cannot store a read position");
                return Err(Denied::UNAVAILABLE);
            }
        };
        match moved {
            Some(seq) => {
                self.publish(user, origin, SignalKind::Read { conv, seq })
                    .await
            }
            None => Ok(()),
        }
    }

    /// `user` is typing in `conv`: passed on unless it was, for this user
    /// and conversation, less than [`TYPING_INTERVAL`] ago (on any node).
    pub async fn typing(&self, user: UserId, origin: ConnKey, conv: Target) -> Result<(), Denied> {
        self.authorizer.authorize(user, conv).await?;
        let key = match conv {
            Target::User(u) => format!("{}typing:{}:u{}", self.prefix, user.0, u.0),
            Target::Group(g) => format!("{}typing:{}:g{}", self.prefix, user.0, g.0),
        };
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(TYPING_INTERVAL.as_millis() as u64));
        let mut redis = self.redis.clone();
        let first: Option<String> = redis.set_options(&key, 1, options).await.map_err(|e| {
            tracing::warn!(error = %e, "typing throttle unavailable");
            Denied::UNAVAILABLE
        })?;
        if first.is_none() {
            return Ok(());
        }
        self.publish(user, origin, SignalKind::Typing { conv })
            .await
    }

    async fn publish(&self, from: UserId, origin: ConnKey, kind: SignalKind) -> Result<(), Denied> {
        let signal = Input::Signal(Signal { from, origin, kind });
        let confirmed = match self.publisher.publish(&signal).await {
            Ok(confirm) => confirm.await,
            Err(e) => Err(e),
        };
        confirmed.map_err(|e| {
            tracing::warn!(error = %e, "cannot publish a signal");
            Denied::UNAVAILABLE
        })
    }
}
