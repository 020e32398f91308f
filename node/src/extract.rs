//! Extractors that answer in the API's own error shape: the authenticated
//! user, and JSON / path / query wrappers whose rejections become [`ApiError`]s
//! instead of axum's plain-text defaults.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_common::UserId;
use confab_common::auth::Verified;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The user a request's bearer token was issued to. The only source of
/// "who is asking": no handler reads a user id from a body for that. Also
/// counts the request against the user's REST rate.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

/// The user and the session of a request's bearer token.
#[derive(Debug, Clone, Copy)]
pub struct AuthSession(pub Verified);

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            bearer_token(parts).ok_or_else(|| ApiError::unauthorized(ErrorCode::MissingToken))?;
        let verified = state.tokens.check(token)?;
        state.limits.rest(verified.user)?;
        Ok(Self(verified))
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AuthSession(verified) = AuthSession::from_request_parts(parts, state).await?;
        Ok(Self(verified.user))
    }
}

/// The client's address (the gateway's `X-Real-IP` behind a trusted proxy).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(state.limits.client_addr(parts)))
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer(&parts.headers)
}

/// The token of an `Authorization: Bearer …` header in `headers`.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `axum::Json`, with rejections in the API's error shape.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                ApiError::invalid(ErrorCode::InvalidField).with_message(e.body_text())
            }
            JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(ErrorCode::MalformedBody),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::too_large()
            }
            other => {
                ApiError::bad_request(ErrorCode::MalformedBody).with_message(other.body_text())
            }
        }
    }
}

/// `axum::extract::Path`, with rejections in the API's error shape.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(ErrorCode::InvalidPath).with_message(rejection.body_text())
    }
}

/// `axum::extract::Query`, with rejections in the API's error shape.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(ErrorCode::InvalidQuery).with_message(rejection.body_text())
    }
}
