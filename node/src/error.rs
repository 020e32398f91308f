//! The one error type of the REST API. Every error leaves as
//! `{"error":{"code","message"}}` with a fitting status; internal details are
//! logged, never sent.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use confab_common::wire::ErrorCode;
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client's fault, or a refusal: status, stable code and a sentence.
    #[error("{code}: {message}")]
    Client {
        status: StatusCode,
        code: ErrorCode,
        message: Cow<'static, str>,
    },
    /// A dependency (Postgres, Redis) did not answer: 503, worth retrying.
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Too many requests wait for the password hasher: 503 with
    /// `Retry-After`, worth retrying a moment later.
    #[error("busy")]
    Busy,
    /// Over a rate limit: 429 `code` with `Retry-After` (whole seconds, at
    /// least 1).
    #[error("{code}: rate limited")]
    Limited {
        code: ErrorCode,
        message: Cow<'static, str>,
        retry_after: std::time::Duration,
    },
    /// A bug or an unexpected state: 500, logged with its cause.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: `code` is stable and meant for programs, `message` for people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = String)]
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

impl ApiError {
    /// A refusal with this status and code, and the code's own text
    /// ([`ErrorCode::message`]).
    pub fn new(status: StatusCode, code: ErrorCode) -> Self {
        Self::Client {
            status,
            code,
            message: code.message().into(),
        }
    }

    /// This refusal with a text of its own instead of its code's (for a
    /// [`Self::Client`] or [`Self::Limited`]; the others keep theirs).
    #[must_use]
    pub fn with_message(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        if let Self::Client { message, .. } | Self::Limited { message, .. } = &mut self {
            *message = text.into();
        }
        self
    }

    /// 400: the request could not be read.
    pub fn bad_request(code: ErrorCode) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(code: ErrorCode) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(code: ErrorCode) -> Self {
        Self::new(StatusCode::FORBIDDEN, code)
    }

    /// 404: no such thing.
    pub fn not_found(code: ErrorCode) -> Self {
        Self::new(StatusCode::NOT_FOUND, code)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: ErrorCode) -> Self {
        Self::new(StatusCode::CONFLICT, code)
    }

    /// 422: a field is invalid.
    pub fn invalid(code: ErrorCode) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code)
    }

    /// 413: the body is over the limit.
    pub fn too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge)
    }

    /// 429 with `Retry-After`: over a rate, for `retry_after`.
    pub fn limited(code: ErrorCode, retry_after: std::time::Duration) -> Self {
        Self::Limited {
            code,
            message: code.message().into(),
            retry_after,
        }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } => *status,
            Self::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code, for clients and tests.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } | Self::Limited { code, .. } => *code,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Busy => ErrorCode::Busy,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message: Cow<'static, str> = match &self {
            Self::Client { message, .. } | Self::Limited { message, .. } => message.clone(),
            Self::Unavailable(cause) => {
                tracing::warn!(error = ?cause, "dependency unavailable");
                ErrorCode::Unavailable.message().into()
            }
            Self::Busy => ErrorCode::Busy.message().into(),
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                ErrorCode::Internal.message().into()
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match &self {
            Self::Busy => Some(1),
            Self::Limited { retry_after, .. } => Some(retry_secs(*retry_after)),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<crate::password::PasswordError> for ApiError {
    fn from(err: crate::password::PasswordError) -> Self {
        match err {
            crate::password::PasswordError::Busy => Self::Busy,
            crate::password::PasswordError::Failed(e) => Self::Internal(e),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(err.into())
        } else {
            Self::Internal(err.into())
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(err: redis::RedisError) -> Self {
        Self::Unavailable(err.into())
    }
}

/// `wait` in whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_secs(wait: std::time::Duration) -> u64 {
    u64::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Whether `err` means Postgres could not be reached (as opposed to a query
/// that failed).
fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e.as_ref(),
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// Whether `err` is a unique-constraint violation, which the API turns into a
/// 409 at the call site that knows what was duplicated.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_a_503_with_retry_after() {
        let response = ApiError::Busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "1");
        assert_eq!(ApiError::Busy.code(), ErrorCode::Busy);
    }

    #[test]
    fn limited_is_a_429_with_retry_after_rounded_up() {
        let limited =
            |ms| ApiError::limited(ErrorCode::RateLimited, std::time::Duration::from_millis(ms));
        for (ms, secs) in [(0, "1"), (1, "1"), (1000, "1"), (1001, "2"), (7500, "8")] {
            let response = limited(ms).into_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                response.headers()[axum::http::header::RETRY_AFTER],
                secs,
                "{ms} ms"
            );
        }
    }
}
