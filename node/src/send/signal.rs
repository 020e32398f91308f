//! A connection's `read` and `typing` frames: checked, stored (a read
//! position) or throttled (typing), then published to `input` as a
//! [`Signal`] for the dispatcher to pass on to the other participants'
//! devices (and the reader's own other devices), in order with the messages
//! around it. Neither has an answer; a refusal is an `error` frame.

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use confab_common::envelope::{Input, Notice, Signal, SignalKind};
use confab_common::keys::Keyspace;
use confab_common::log::reads::{self, ReadError};
use confab_common::presence::ConnKey;
use confab_common::redis::Redis;
use confab_common::social::Cached;
use confab_common::wire::{ErrorCode, Target};
use confab_common::{Seq, UserId};
use futures_util::future::BoxFuture;
use redis::AsyncCommands;
use sea_orm::DatabaseConnection;

use crate::send::authorize::{Authorizer, Denied};
use crate::send::publisher::{PublishError, Publisher};

/// At most one `typing` per user and conversation is passed on in this long.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(3);

const NO_CONVERSATION: Denied = Denied::of(ErrorCode::NoSuchConversation);

/// A `read` or `typing` on its way: resolves to its refusal, if any.
pub type Signalled = Pin<Box<dyn Future<Output = Result<(), Denied>> + Send>>;

/// What a connection's signals go through: [`Signals`] on the node, an
/// in-memory double in the connection loop's unit tests. Each call is one
/// boxed future, made from a shared handle so that it owns what it needs
/// (it runs beside the connection's loop, or on a task of its own).
pub trait Signalling: Send + Sync + Debug {
    /// `user` read `conv` up to `seq` ([`Signals::read`]).
    fn read(self: Arc<Self>, user: UserId, origin: ConnKey, conv: Target, seq: Seq) -> Signalled;
    /// `user` is typing in `conv` ([`Signals::typing`]).
    fn typing(self: Arc<Self>, user: UserId, origin: ConnKey, conv: Target) -> Signalled;
    /// `user` came online or went offline ([`Signals::presence`]).
    fn presence(self: Arc<Self>, user: UserId, online: bool) -> BoxFuture<'static, ()>;
}

// The inherent methods, named by their type: on an `Arc<Signals>`, the
// trait's own names would be found first.
impl Signalling for Signals {
    fn read(self: Arc<Self>, user: UserId, origin: ConnKey, conv: Target, seq: Seq) -> Signalled {
        Box::pin(async move { Signals::read(&self, user, origin, conv, seq).await })
    }

    fn typing(self: Arc<Self>, user: UserId, origin: ConnKey, conv: Target) -> Signalled {
        Box::pin(async move { Signals::typing(&self, user, origin, conv).await })
    }

    fn presence(self: Arc<Self>, user: UserId, online: bool) -> BoxFuture<'static, ()> {
        Box::pin(async move { Signals::presence(&self, user, online).await })
    }
}

/// What signals need; shared by every connection of the node.
#[derive(Debug, Clone)]
pub struct Signals {
    pub db: DatabaseConnection,
    pub authorizer: Authorizer,
    pub publisher: Arc<Publisher>,
    /// Where the typing throttle lives.
    pub redis: Redis,
    pub keys: Keyspace,
}

impl Signals {
    /// `user` read `conv` up to `seq`: stores it and, if the position moved,
    /// tells the others.
    pub async fn read(
        &self,
        user: UserId,
        origin: ConnKey,
        conv: Target,
        seq: Seq,
    ) -> Result<(), Denied> {
        let moved = match reads::mark_read(&self.db, user, conv, seq).await {
            Ok(moved) => moved,
            Err(ReadError::NoConversation) => return Err(NO_CONVERSATION),
            Err(ReadError::Db(e)) => {
                tracing::warn!(error = %e, "cannot store a read position");
                return Err(Denied::UNAVAILABLE);
            }
        };
        match moved {
            Some(seq) => {
                self.publish(user, Some(origin), SignalKind::Read { conv, seq })
                    .await
            }
            None => Ok(()),
        }
    }

    /// `user` is typing in `conv`: passed on unless it was, for this user
    /// and conversation, less than [`TYPING_INTERVAL`] ago (on any node).
    pub async fn typing(&self, user: UserId, origin: ConnKey, conv: Target) -> Result<(), Denied> {
        self.authorizer
            .authorize(user, conv, Cached::Unknown)
            .await?;
        let key = self.keys.typing(user, conv);
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
        self.publish(user, Some(origin), SignalKind::Typing { conv })
            .await
    }

    /// `user`'s first device connected (`online`) or last one went: their
    /// friends' devices are told.
    pub async fn presence(&self, user: UserId, online: bool) {
        let kind = SignalKind::Presence { online };
        if self.publish(user, None, kind).await.is_err() {
            tracing::debug!(user_id = user.0, online, "presence change not passed on");
        }
    }

    /// Writes `frame` to every connected device of `users` (best effort: a
    /// client that missed it reads the state over REST when it reconnects).
    pub async fn notify(&self, users: Vec<UserId>, frame: String) {
        if users.is_empty() {
            return;
        }
        let notice = Input::Notice(Notice {
            frame,
            users,
            except: None,
        });
        if let Err(e) = self.send(&notice).await {
            tracing::warn!(error = %e, "social event not passed on");
        }
    }

    async fn publish(
        &self,
        from: UserId,
        origin: Option<ConnKey>,
        kind: SignalKind,
    ) -> Result<(), Denied> {
        let signal = Input::Signal(Signal { from, origin, kind });
        self.send(&signal).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot publish a signal");
            Denied::UNAVAILABLE
        })
    }

    async fn send(&self, input: &Input) -> Result<(), PublishError> {
        match self.publisher.publish(input).await {
            Ok(confirm) => confirm.await,
            Err(e) => Err(e),
        }
    }
}
