//! `GET /api/limits`: the lengths the server enforces, so that a client
//! takes them from one place instead of copying numbers that may change
//! (`WS_MAX_BODY_CHARS` is an operator's setting).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Json;
use crate::routes::rules::{
    AVATAR_URL_CHARS, BIO_CHARS, DISPLAY_NAME_CHARS, GROUP_NAME_CHARS, PASSWORD_CHARS,
    SEARCH_CHARS, USERNAME_CHARS,
};
use crate::state::AppState;

/// How long a client (or a cache between) may keep the answer: the limits
/// change only when an operator restarts nodes with other settings.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_limits))
}

/// The length limits of requests and messages, in characters (Unicode code
/// points). Strings are trimmed before they are counted where the route
/// says so.
/// (Named `Limits` in the API document, as it always was.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Limits)]
pub struct LengthLimits {
    /// Longest `body` of a WebSocket `send` (this node's `WS_MAX_BODY_CHARS`).
    #[schema(minimum = 1)]
    pub message_body_chars: usize,
    /// Length of a username.
    pub username_chars: CharRange,
    /// Length of a password.
    pub password_chars: CharRange,
    /// Longest display name (at least 1 character).
    #[schema(minimum = 1)]
    pub display_name_chars: usize,
    /// Longest bio.
    #[schema(minimum = 1)]
    pub bio_chars: usize,
    /// Longest avatar URL.
    #[schema(minimum = 1)]
    pub avatar_url_chars: usize,
    /// Longest `search` of `GET /api/users`, a leading `@` not counted.
    #[schema(minimum = 1)]
    pub search_chars: usize,
    /// Longest group name (at least 1 character).
    #[schema(minimum = 1)]
    pub group_name_chars: usize,
}

/// An inclusive length range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct CharRange {
    #[schema(minimum = 1)]
    pub min: usize,
    #[schema(minimum = 1)]
    pub max: usize,
}

impl From<&std::ops::RangeInclusive<usize>> for CharRange {
    fn from(range: &std::ops::RangeInclusive<usize>) -> Self {
        Self {
            min: *range.start(),
            max: *range.end(),
        }
    }
}

impl LengthLimits {
    /// The limits of a node whose message bodies may be `message_body_chars` long.
    pub fn new(message_body_chars: usize) -> Self {
        Self {
            message_body_chars,
            username_chars: (&USERNAME_CHARS).into(),
            password_chars: (&PASSWORD_CHARS).into(),
            display_name_chars: DISPLAY_NAME_CHARS,
            bio_chars: BIO_CHARS,
            avatar_url_chars: AVATAR_URL_CHARS,
            search_chars: SEARCH_CHARS,
            group_name_chars: GROUP_NAME_CHARS,
        }
    }
}

/// The limits this node enforces. No token needed; cacheable for 5 minutes.
#[utoipa::path(
    get, path = "/api/limits", tag = "limits",
    responses(
        (status = 200, body = LengthLimits,
         headers(("Cache-Control" = String, description = "public, max-age=300"))),
    )
)]
async fn get_limits(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, CACHE_CONTROL)],
        Json(LengthLimits::new(state.ws.max_body_chars)),
    )
}
