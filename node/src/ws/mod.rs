//! `GET /ws`: the WebSocket endpoint. The credential ([`credential`]: a
//! token, or a single-use ticket in the subprotocols or the query) is
//! checked before the upgrade (401 in the API's error shape otherwise), and
//! the upgrade selects the subprotocol `confab.v1`; the connection then
//! runs as a [`session`]: frames decoded by [`command`], sends handed to the
//! send side (`crate::send`), messages written by the [`writer`] from
//! [`replay`] pages and hub deliveries (`crate::delivery`).

pub mod command;
pub mod context;
pub mod credential;
pub mod end;
pub mod recent;
pub mod replay;
pub mod session;
pub mod signals;
pub mod throttle;
pub mod unacked;
pub mod writer;

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::ws::context::SessionContext;
use crate::ws::credential::{Credential, PROTOCOL, credential};

/// The WebSocket route.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// `?ticket=`, the fallback for clients that cannot offer a subprotocol (a
/// single-use ticket from `POST /api/auth/ws-ticket`; browsers offer it as
/// the subprotocol `confab.ticket.<ticket>` instead, out of the URL);
/// `?token=`, the same for old clients (deprecated: it puts a long-lived
/// token in URLs); and `?device=`, the device's name (1-64 of
/// `[A-Za-z0-9._-]`, not a secret).
#[derive(Debug, Deserialize)]
struct WsQuery {
    ticket: Option<String>,
    token: Option<String>,
    device: Option<String>,
}

/// The device a client connects as when it names none.
pub const DEFAULT_DEVICE: &str = "default";

/// `device`, if it is a valid device name.
fn device_name(device: Option<String>) -> Result<Arc<str>, ApiError> {
    let device = device.unwrap_or_else(|| DEFAULT_DEVICE.to_owned());
    let valid = (1..=64).contains(&device.len())
        && device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(ApiError::bad_request(
            "invalid_device",
            "`device` is 1 to 64 of A-Z, a-z, 0-9, `.`, `_` and `-`",
        ));
    }
    Ok(device.into())
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // First, so that a node which cannot take the connection (stopping, or
    // not yet knowing the revoked sessions) does not use up a ticket: the
    // gateway passes a 503 on to another node, with the same ticket.
    if state.shutdown.is_cancelled() || !state.tokens.revocations.is_loaded() {
        return Err(ApiError::Unavailable(anyhow::anyhow!(
            "node shutting down or starting"
        )));
    }
    let (ticket, token, device) = match query {
        Ok(Query(q)) => (q.ticket, q.token, q.device),
        Err(_) => (None, None, None),
    };
    // Read (and refused when malformed) before anything is redeemed, so a
    // bad offer of subprotocols does not use up its ticket either.
    let verified = match credential(&headers, ticket, token)? {
        Credential::Token(token) => state.tokens.check(&token)?,
        Credential::Ticket(ticket) => state.tokens.redeem(&ticket).await?,
    };
    let user = verified.user;
    let device = device_name(device)?;
    let ws = ws.map_err(|e| ApiError::bad_request("not_websocket", e.body_text()))?;
    // A cap per user across the cluster, from presence (a Redis that does
    // not answer does not block connecting; the session then closes 1013).
    if let Ok(located) = state.presence.locate(&[user]).await {
        let open = located.get(&user).map_or(0, Vec::len);
        if open >= state.ws.max_connections_per_user {
            return Err(ApiError::Limited {
                code: "too_many_connections",
                message: "this user has as many connections as allowed across the cluster (WS_MAX_CONNECTIONS_PER_USER); close one first",
                retry_after: std::time::Duration::from_secs(5),
            });
        }
    }
    let limits = state.ws.clone();
    let sessions = state.sessions.clone();
    let ctx = SessionContext::new(&state, user, verified.session, device);
    Ok(ws
        // Selected whenever offered: a browser that offered protocols fails
        // a handshake that selects none (the ticket's is never echoed).
        .protocols([PROTOCOL])
        // Small buffers: tungstenite's default 128 KiB read buffer stays
        // resident for every idle connection.
        .read_buffer_size(4096)
        .write_buffer_size(8192)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| sessions.track_future(session::run(ctx, socket))))
}
