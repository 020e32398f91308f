//! Public profiles: `GET /api/users/{id}` and the search by username
//! prefix or display-name words (`store::users::SEARCH_SQL` says how).

use axum::extract::State;
use confab_common::UserId;
use confab_common::entity::users;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{AuthUser, Json, Path, Query};
use crate::routes::rules::{SEARCH_CHARS, USERNAME_CHARS};
use crate::state::AppState;
use crate::store::{self, users::Search};

/// A user as everyone may see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The account was deleted: `display_name` is "Deleted account" and
    /// the username `deleted-<id>`; its messages stay in the history.
    pub deleted: bool,
}

impl From<users::Model> for Profile {
    fn from(user: users::Model) -> Self {
        let users::Model {
            id,
            username,
            display_name,
            bio,
            avatar_url,
            created_at,
            deleted_at,
            password_hash: _,
        } = user;
        Self {
            id: UserId(id),
            username,
            display_name,
            bio,
            avatar_url,
            created_at: created_at.timestamp_millis(),
            deleted: deleted_at.is_some(),
        }
    }
}

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_user))
        .routes(routes!(search_users))
}

/// Loads `id`'s profile, or answers 404 `no_such_user`.
pub async fn load_user(state: &AppState, id: UserId) -> ApiResult<users::Model> {
    store::users::find(&state.db, id)
        .await?
        .ok_or_else(no_such_user)
}

/// The 404 for an unknown user id.
pub fn no_such_user() -> ApiError {
    ApiError::not_found(ErrorCode::NoSuchUser)
}

/// One user's public profile.
#[utoipa::path(
    get, path = "/api/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "user id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Profile),
        (status = 404, body = ErrorBody, description = "no_such_user"),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Profile>> {
    // A deleted account's profile is shown, marked, for its old messages.
    let user = store::users::find_any(&state.db, UserId(id))
        .await?
        .ok_or_else(no_such_user)?;
    Ok(Json(user.into()))
}

/// Query of the user search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// What to look for: a username prefix, or words that begin words of
    /// the display name (all of them, in any order; case and accents do
    /// not matter). Trimmed, and a leading `@` dropped, then 1-32
    /// characters without control characters.
    #[param(min_length = 1)]
    search: String,
    /// How many profiles at most.
    #[param(minimum = 1, maximum = 50, default = 20)]
    limit: Option<u64>,
    /// The next page: the last username of the previous one. Only users
    /// whose lowercased username sorts after it (byte order) are listed.
    #[param(min_length = 1, max_length = 32)]
    after: Option<String>,
}

/// Default and largest `limit` of the search.
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 50;

/// Live users whose username starts with `search`, or whose display name
/// has words beginning with each word of it; in lowercased username order
/// (byte order), one page at a time.
#[utoipa::path(
    get, path = "/api/users", tag = "users",
    params(SearchQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Profile>),
        (status = 400, body = ErrorBody, description = "invalid_query: `search` missing, `limit` not a non-negative integer"),
        (status = 422, body = ErrorBody, description = "invalid_search: `search` empty, too long or with a control character; `limit` outside 1-50; `after` empty, over 32 characters or with a control character"),
    )
)]
async fn search_users(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Vec<Profile>>> {
    let words = search_words(&query.search)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(ErrorCode::InvalidSearch)
            .with_message(format!("`limit` must be between 1 and {MAX_LIMIT}")));
    }
    let after = query.after.as_deref().unwrap_or_default();
    let after_ok = (1..=*USERNAME_CHARS.end()).contains(&after.chars().count())
        && !after.chars().any(char::is_control);
    if query.after.is_some() && !after_ok {
        return Err(
            ApiError::invalid(ErrorCode::InvalidSearch).with_message(format!(
                "`after` must be a username: 1 to {} characters, without control characters",
                USERNAME_CHARS.end()
            )),
        );
    }
    // LIKE's own metacharacters in the query match themselves.
    let username_like = format!("{}%", escape_like(&words.to_lowercase()));
    let found = store::users::search(
        &state.db,
        &Search {
            words,
            username_like,
            after,
            limit,
        },
    )
    .await?;
    Ok(Json(found.into_iter().map(Profile::from).collect()))
}

/// The query of a search, checked: trimmed, without a leading `@` (people
/// write usernames that way), 1 to [`SEARCH_CHARS`] characters, no control
/// characters (a NUL would be a Postgres error, not a miss).
fn search_words(search: &str) -> ApiResult<&str> {
    let trimmed = search.trim();
    let words = trimmed.strip_prefix('@').unwrap_or(trimmed).trim_start();
    if (1..=SEARCH_CHARS).contains(&words.chars().count()) && !words.chars().any(char::is_control) {
        Ok(words)
    } else {
        Err(ApiError::invalid(ErrorCode::InvalidSearch).with_message(format!(
            "`search` must be 1 to {SEARCH_CHARS} characters (a leading @ not counted), without control characters"
        )))
    }
}

/// `s` with `\`, `%` and `_` escaped for a LIKE pattern (Postgres' default escape is `\`).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The profiles of `ids` that exist, by username.
pub async fn load_profiles(state: &AppState, ids: &[UserId]) -> ApiResult<Vec<Profile>> {
    let found = store::users::find_many(&state.db, ids).await?;
    Ok(found.into_iter().map(Profile::from).collect())
}
