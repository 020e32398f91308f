//! Extractors that answer in the API's own error shape: the authenticated
//! user, and JSON / path / query wrappers whose rejections become [`ApiError`]s
//! instead of axum's plain-text defaults.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_common::UserId;
use confab_common::auth::{JwtKeys, TokenError};
use std::sync::Arc;

use crate::error::ApiError;

/// The user a request's bearer token was issued to. The only source of
/// "who is asking": no handler reads a user id from a body for that.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "an `Authorization: Bearer <token>` header is required",
            )
        })?;
        verify(&Arc::<JwtKeys>::from_ref(state), token).map(AuthUser)
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks `token`, answering 401 with a code that says why.
pub fn verify(keys: &JwtKeys, token: &str) -> Result<UserId, ApiError> {
    keys.verify(token).map_err(|e| match e {
        TokenError::Expired => {
            ApiError::unauthorized("token_expired", "the token has expired; log in again")
        }
        TokenError::Invalid => ApiError::unauthorized("invalid_token", "the token is not valid"),
    })
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
            JsonRejection::JsonDataError(e) => ApiError::invalid("invalid_field", e.body_text()),
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("malformed_body", "the body is not valid JSON")
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::Client {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "the body must be JSON with `Content-Type: application/json`".into(),
            },
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::too_large()
            }
            other => ApiError::bad_request("malformed_body", other.body_text()),
        }
    }
}

/// `axum::extract::Path`, with rejections in the API's error shape.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

/// `axum::extract::Query`, with rejections in the API's error shape.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}
