//! Sessions: log out this token or every token of the user, and trade a
//! token for a single-use WebSocket ticket (browsers keep tokens out of
//! URLs).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::revocations::Revoked;
use crate::auth::sessions::{self, Which};
use crate::auth::tickets::TICKET_TTL;
use crate::error::ApiResult;
use crate::extract::{AuthSession, Json};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(ws_ticket))
}

/// Revokes `which` of the caller's sessions everywhere: their tokens are
/// refused and their sockets closed (4401) on every node.
pub async fn revoke(state: &AppState, user: confab_common::UserId, which: Which) -> ApiResult<()> {
    let sessions = sessions::revoke(&state.db, user, which).await?;
    state.tokens.revoked(Revoked { user, sessions }).await;
    Ok(())
}

/// Logs this token out: it is refused from now on, and the sockets opened
/// with it (or with its tickets) are closed with 4401.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "logged out"),
    )
)]
async fn logout(
    State(state): State<AppState>,
    AuthSession(me): AuthSession,
) -> ApiResult<StatusCode> {
    revoke(&state, me.user, Which::One(me.session, me.exp)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs out every token of the caller, this one included.
#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "every session logged out"),
    )
)]
async fn logout_all(
    State(state): State<AppState>,
    AuthSession(me): AuthSession,
) -> ApiResult<StatusCode> {
    revoke(&state, me.user, Which::AllBut(None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A single-use ticket for `GET /ws`: offered as the subprotocol
/// `confab.ticket.<ticket>` next to `confab.v1` (or, as a fallback, in
/// `?ticket=`).
#[derive(Debug, Serialize, ToSchema)]
struct Ticket {
    /// Opens one WebSocket of this session, within `expires_in` seconds.
    ticket: String,
    expires_in: u64,
}

/// Trades the token for a WebSocket ticket: single use, valid for 30 s,
/// bound to this session (logging it out closes the socket too).
#[utoipa::path(
    post, path = "/api/auth/ws-ticket", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 201, body = Ticket),
    )
)]
async fn ws_ticket(
    State(state): State<AppState>,
    AuthSession(me): AuthSession,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let ticket = state.tokens.ticket(&me).await?;
    let expires_in = TICKET_TTL.as_secs();
    Ok((StatusCode::CREATED, Json(Ticket { ticket, expires_in })))
}
