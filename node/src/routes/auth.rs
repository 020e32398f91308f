//! Registration and log-in: the two routes that hand out tokens.

use axum::extract::State;
use axum::http::StatusCode;
use confab_common::UserId;
use confab_common::entity::users;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::limits::PerAddress;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ClientAddr, Json};
use crate::routes::document::BUSY_SIGN_IN;
use crate::routes::rules::{
    PASSWORD_CHARS, validate_display_name, validate_password, validate_username,
};
use crate::routes::users::Profile;
use crate::state::AppState;
use crate::store::accounts::{self, CreateError, NewAccount};
use crate::store::users::find_by_username;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    /// 3-32 of `A-Z a-z 0-9 _ . -`; unique regardless of case.
    username: String,
    /// 8-128 characters.
    password: String,
    /// 1-64 characters; the username when absent.
    display_name: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

/// A token and the account it was issued for.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    /// HS256 JWT; send it as `Authorization: Bearer <token>`. Browsers open
    /// `/ws` with a ticket (`POST /api/auth/ws-ticket`).
    token: String,
    user: Profile,
}

/// A token for `user`, in a new session.
async fn issue(state: &AppState, user: users::Model) -> ApiResult<AuthResponse> {
    let issued = state.tokens.issue(&state.db, UserId(user.id)).await?;
    Ok(AuthResponse {
        token: issued.token,
        user: user.into(),
    })
}

/// Creates an account and logs it in.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = AuthResponse),
        (status = 400, body = ErrorBody, description = "malformed_body"),
        (status = 409, body = ErrorBody, description = "username_taken"),
        (status = 413, body = ErrorBody, description = "too_large"),
        (status = 422, body = ErrorBody, description = "invalid_username, weak_password, invalid_display_name, invalid_field"),
        (status = 429, body = ErrorBody, description = "rate_limited: too many sign-ups from this address this minute (REGISTER_PER_ADDRESS); Retry-After"),
        (status = 503, body = ErrorBody, description = BUSY_SIGN_IN),
    )
)]
async fn register(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    state.limits.per_address(PerAddress::Register, addr).await?;
    validate_username(&request.username)?;
    validate_password(&request.password)?;
    let display_name = match request.display_name {
        Some(name) => validate_display_name(name)?,
        None => request.username.clone(),
    };
    let password_hash = state.passwords.hash(request.password).await?;
    let account = NewAccount {
        username: request.username,
        password_hash,
        display_name,
    };
    // The unique index decides, so two concurrent registrations of one
    // name cannot both succeed.
    let user = accounts::create(&state.db, account)
        .await
        .map_err(|e| match e {
            CreateError::UsernameTaken => ApiError::conflict(ErrorCode::UsernameTaken),
            CreateError::Db(e) => e.into(),
        })?;
    tracing::info!(user_id = user.id, "account registered");
    Ok((StatusCode::CREATED, Json(issue(&state, user).await?)))
}

/// Exchanges a username and password for a token.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 400, body = ErrorBody, description = "malformed_body"),
        (status = 401, body = ErrorBody, description = "invalid_credentials (unknown user and wrong password alike)"),
        (status = 429, body = ErrorBody, description = "rate_limited: too many log-ins from this address this minute (LOGIN_PER_ADDRESS); login_delayed: the account's failed log-ins make the next attempt wait. Retry-After says how long"),
        (status = 503, body = ErrorBody, description = BUSY_SIGN_IN),
    )
)]
async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    state.limits.per_address(PerAddress::LogIn, addr).await?;
    // A name that could never have been registered is not looked up (and a
    // NUL in it would be a Postgres error, not a wrong password).
    let account = (validate_username(&request.username).is_ok()
        && request.password.chars().count() <= *PASSWORD_CHARS.end())
    .then_some(request.username.as_str());
    let user = match account {
        Some(name) => {
            state.limits.login_allowed(name).await?;
            find_by_username(&state.db, name).await?
        }
        None => None,
    };
    // Verify even when the user is unknown, so that timing does not tell.
    let matches = state
        .passwords
        .verify(
            request.password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    match user {
        Some(user) if matches => {
            state.limits.login_succeeded(&user.username).await;
            Ok(Json(issue(&state, user).await?))
        }
        _ => {
            if let Some(name) = account {
                state.limits.login_failed(name).await;
            }
            Err(ApiError::unauthorized(ErrorCode::InvalidCredentials))
        }
    }
}
