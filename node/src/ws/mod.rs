//! `GET /ws`: the WebSocket endpoint. The credential ([`credential`]: a
//! token in the `Authorization` header, or a single-use ticket in the
//! subprotocols; never one in the URL) is checked before the upgrade (400
//! or 401 in the API's error shape otherwise), and
//! the upgrade selects the subprotocol `confab.v1`; the connection then
//! runs as a [`connection`]: frames decoded by [`command`], sends handed to the
//! send side (`crate::send`), messages written by the [`writer`] from
//! [`replay`] pages and hub deliveries (`crate::delivery`).

pub mod command;
pub mod connection;
pub mod context;
pub mod credential;
pub mod end;
pub mod in_flight;
pub mod recent;
pub mod replay;
pub mod throttle;
pub mod unacked;
pub mod writer;

use confab_common::DeviceName;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::ws::context::ConnectionContext;
use crate::ws::credential::{Credential, PROTOCOL, credential};

/// The WebSocket route.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// `?device=`, the device's name (1-64 of `[A-Za-z0-9._-]`, not a
/// secret): the one thing the query carries. A `token` or `ticket` in it is
/// refused by [`credential`], from the raw query.
#[derive(Debug, Deserialize)]
struct WsQuery {
    device: Option<String>,
}

/// `device`, if it is a valid device name ([`DeviceName::DEFAULT`] if none).
fn device_name(device: Option<String>) -> Result<DeviceName, ApiError> {
    let device = device.as_deref().unwrap_or(DeviceName::DEFAULT);
    DeviceName::parse(device).map_err(|_| ApiError::bad_request(ErrorCode::InvalidDevice))
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
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
    let device = query.ok().and_then(|Query(q)| q.device);
    // Read (and refused when malformed or in the URL) before anything is
    // redeemed, so a bad offer does not use up its ticket either.
    let verified = match credential(&headers, raw_query.as_deref())? {
        Credential::Token(token) => state.tokens.check(&token)?,
        Credential::Ticket(ticket) => state.tokens.redeem(&ticket).await?,
    };
    let user = verified.user;
    let device = device_name(device)?;
    let ws =
        ws.map_err(|e| ApiError::bad_request(ErrorCode::NotWebsocket).with_message(e.body_text()))?;
    // A cap per user across the cluster, from presence (a Redis that does
    // not answer does not block connecting; the connection then closes 1013).
    if let Ok(located) = state.presence.locate(&[user]).await {
        let open = located.get(&user).map_or(0, Vec::len);
        if open >= state.ws.max_connections_per_user {
            let wait = std::time::Duration::from_secs(5);
            return Err(ApiError::limited(ErrorCode::TooManyConnections, wait));
        }
    }
    let limits = state.ws.clone();
    let connections = state.connections.clone();
    let ctx = ConnectionContext::new(&state, user, verified.session, device);
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
        .on_upgrade(move |socket| connections.track_future(connection::run(ctx, socket))))
}
