//! Public profiles: `GET /api/users/{id}` and the username prefix search.

use axum::extract::State;
use confab_common::UserId;
use confab_common::entity::users;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthUser, Json, Path, Query};
use crate::state::AppState;

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
        Self {
            id: UserId(user.id),
            username: user.username,
            display_name: user.display_name,
            bio: user.bio,
            avatar_url: user.avatar_url,
            created_at: user.created_at.timestamp_millis(),
            deleted: user.deleted_at.is_some(),
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
    crate::store::users::find(&state.db, id)
        .await?
        .ok_or_else(no_such_user)
}

/// The 404 for an unknown user id.
pub fn no_such_user() -> ApiError {
    ApiError::not_found("no_such_user", "there is no user with this id")
}

/// One user's public profile.
#[utoipa::path(
    get, path = "/api/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "user id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Profile),
        (status = 401, body = ErrorBody, description = "missing_token, invalid_token, token_expired, token_revoked"),
        (status = 404, body = ErrorBody, description = "no_such_user"),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Profile>> {
    // A deleted account's profile is shown, marked, for its old messages.
    let user = crate::store::users::find_any(&state.db, UserId(id))
        .await?
        .ok_or_else(no_such_user)?;
    Ok(Json(user.into()))
}

/// Query of the user search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Username prefix, case-insensitive, 1-32 characters.
    search: String,
    /// How many profiles at most (1-50, default 20).
    limit: Option<u64>,
}

/// Users whose username starts with `search`, in username order.
#[utoipa::path(
    get, path = "/api/users", tag = "users",
    params(SearchQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Profile>),
        (status = 400, body = ErrorBody, description = "invalid_query"),
        (status = 401, body = ErrorBody, description = "missing_token, invalid_token, token_expired, token_revoked"),
        (status = 422, body = ErrorBody, description = "invalid_search"),
    )
)]
async fn search_users(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Vec<Profile>>> {
    let prefix = query.search.trim().to_lowercase();
    if prefix.is_empty() || prefix.chars().count() > 32 || prefix.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid_search",
            "`search` must be 1 to 32 characters, without control characters",
        ));
    }
    let limit = query.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_search",
            "`limit` must be between 1 and 50",
        ));
    }
    // LIKE's own metacharacters in the prefix match themselves.
    let pattern = format!("{}%", escape_like(&prefix));
    let lower_username = Func::lower(Expr::col(users::Column::Username));
    let found = users::Entity::find()
        .filter(Expr::expr(lower_username.clone()).like(pattern))
        .filter(users::Column::DeletedAt.is_null())
        .order_by_asc(lower_username)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok(Json(found.into_iter().map(Profile::from).collect()))
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
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = users::Entity::find()
        .filter(users::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .order_by_asc(Func::lower(Expr::col(users::Column::Username)))
        .all(&state.db)
        .await?;
    Ok(found.into_iter().map(Profile::from).collect())
}
