//! What one connection needs from the node, instead of the whole app state.

use std::sync::Arc;

use confab_common::UserId;
use confab_common::presence::Presence;
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::Tokens;
use crate::auth::limits::RateLimits;
use crate::config::WsLimits;
use crate::delivery::acks::AckSender;
use crate::delivery::hub::Hub;
use crate::send::SendPath;
use crate::send::signal::Signals;
use crate::state::AppState;

/// A connection's handles, for the token's user.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The token's user: the sender of everything this connection sends.
    pub user: UserId,
    /// Where the connection registers for deliveries.
    pub hub: Arc<Hub>,
    /// Where it is registered as online (cluster-wide).
    pub presence: Presence,
    /// The session (token) it was opened with: revoking it closes 4401.
    pub session: uuid::Uuid,
    /// The device it connected as (`?device=`, `default` if none).
    pub device: Arc<str>,
    /// Where its sends go.
    pub sends: Arc<SendPath>,
    /// Where its `read` and `typing` go.
    pub signals: Arc<Signals>,
    /// Where its acks go.
    pub acks: AckSender,
    /// The conversation logs, for replays.
    pub db: DatabaseConnection,
    /// Turns at the logs, shared by every connection's replay.
    pub replays: Arc<Semaphore>,
    pub ws: WsLimits,
    /// Revoked sessions, checked once the connection is registered.
    pub tokens: Arc<Tokens>,
    /// The user's send rate.
    pub limits: Arc<RateLimits>,
    /// Cancelled when the node stops: the connection closes with 1001.
    pub shutdown: CancellationToken,
}

impl SessionContext {
    /// The context of a connection of `user`'s `device`.
    pub fn new(state: &AppState, user: UserId, session: uuid::Uuid, device: Arc<str>) -> Self {
        Self {
            user,
            session,
            tokens: state.tokens.clone(),
            limits: state.limits.clone(),
            device,
            signals: state.signals.clone(),
            hub: state.hub.clone(),
            presence: state.presence.clone(),
            sends: state.sends.clone(),
            acks: state.acks.clone(),
            db: state.db.clone(),
            replays: state.replays.clone(),
            ws: state.ws.clone(),
            shutdown: state.shutdown.clone(),
        }
    }

    /// Tells the user's friends that the user came online or went offline,
    /// off the connection's path.
    pub fn announce(&self, online: bool) {
        let (signals, user) = (self.signals.clone(), self.user);
        tokio::spawn(async move { signals.presence(user, online).await });
    }
}
