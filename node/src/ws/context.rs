//! What one connection needs from the node, instead of the whole app state.
//! The services it calls are narrow traits, implemented by the node's real
//! handles (Redis, Postgres, the broker) and, in the connection loop's unit
//! tests, by in-memory doubles. They are called per connection or per
//! frame, never per delivered message: deliveries come through the hub's
//! queue and the writer, which are concrete.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use confab_common::presence::{self, ConnKey};
use confab_common::{DeviceName, UserId};
use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::limits::RateLimits;
use crate::auth::revocations::Revocations;
use crate::config::WsLimits;
use crate::delivery::acks::AckSender;
use crate::delivery::hub::Hub;
use crate::send::Sends;
use crate::send::signal::Signalling;
use crate::state::AppState;
use crate::ws::replay::Logs;

/// Where a connection is recorded as live, cluster-wide (presence in
/// Redis).
pub trait Online: Send + Sync + Debug {
    /// Records `key` of `user`; true if it is the user's first connection
    /// anywhere (their friends are then told).
    fn connect(&self, user: UserId, key: ConnKey) -> BoxFuture<'_, redis::RedisResult<bool>>;
    /// Removes `key` (`last_here`: it was the user's last connection on
    /// this node); true if the user has no connection left anywhere.
    fn disconnect(
        &self,
        user: UserId,
        key: ConnKey,
        last_here: bool,
    ) -> BoxFuture<'_, redis::RedisResult<bool>>;
}

impl Online for presence::Presence {
    fn connect(&self, user: UserId, key: ConnKey) -> BoxFuture<'_, redis::RedisResult<bool>> {
        Box::pin(presence::Presence::connect(self, user, key))
    }

    fn disconnect(
        &self,
        user: UserId,
        key: ConnKey,
        last_here: bool,
    ) -> BoxFuture<'_, redis::RedisResult<bool>> {
        Box::pin(presence::Presence::disconnect(self, user, key, last_here))
    }
}

/// Which sessions are revoked (the node's copy of the list).
pub trait RevokedSessions: Send + Sync + Debug {
    fn is_revoked(&self, session: &uuid::Uuid) -> bool;
}

impl RevokedSessions for Revocations {
    fn is_revoked(&self, session: &uuid::Uuid) -> bool {
        Revocations::is_revoked(self, session)
    }
}

/// The users' send rate.
pub trait SendRate: Send + Sync + Debug {
    /// How long `user`'s next send must wait, if it must.
    fn send_wait(&self, user: UserId) -> Option<Duration>;
}

impl SendRate for RateLimits {
    fn send_wait(&self, user: UserId) -> Option<Duration> {
        RateLimits::send_wait(self, user)
    }
}

/// A connection's handles, for the token's user.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    /// The token's user: the sender of everything this connection sends.
    pub user: UserId,
    /// Where the connection registers for deliveries.
    pub hub: Arc<Hub>,
    /// Where it is registered as online (cluster-wide).
    pub presence: Arc<dyn Online>,
    /// The session (token) it was opened with: revoking it closes 4401.
    pub session: uuid::Uuid,
    /// The device it connected as (`?device=`, `default` if none).
    pub device: DeviceName,
    /// Where its sends go.
    pub sends: Arc<dyn Sends>,
    /// Where its `read` and `typing` go, and its presence changes.
    pub signals: Arc<dyn Signalling>,
    /// Where its acks go.
    pub acks: AckSender,
    /// The conversation logs, for replays.
    pub logs: Arc<dyn Logs>,
    /// Turns at the logs, shared by every connection's replay.
    pub replays: Arc<Semaphore>,
    pub ws: WsLimits,
    /// Revoked sessions, checked once the connection is registered.
    pub revocations: Arc<dyn RevokedSessions>,
    /// The user's send rate.
    pub rate: Arc<dyn SendRate>,
    /// Cancelled when the node stops: the connection closes with 1001.
    pub shutdown: CancellationToken,
}

impl ConnectionContext {
    /// The context of a connection of `user`'s `device`, opened in
    /// `session`.
    pub fn new(state: &AppState, user: UserId, session: uuid::Uuid, device: DeviceName) -> Self {
        Self {
            user,
            session,
            revocations: state.tokens.revocations.clone(),
            rate: state.limits.clone(),
            device,
            signals: state.signals.clone(),
            hub: state.hub.clone(),
            presence: Arc::new(state.presence.clone()),
            sends: state.sends.clone(),
            acks: state.acks.clone(),
            logs: Arc::new(state.db.clone()),
            replays: state.replays.clone(),
            ws: state.ws.clone(),
            shutdown: state.shutdown.clone(),
        }
    }

    /// Tells the user's friends that the user came online or went offline,
    /// off the connection's path.
    pub fn announce(&self, online: bool) {
        tokio::spawn(self.signals.clone().presence(self.user, online));
    }
}
