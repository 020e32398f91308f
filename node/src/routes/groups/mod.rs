//! Group chats: create, list, read, rename, disband. Membership changes live
//! in [`members`].
//!
//! Every change to a group runs in a transaction that first locks the group's
//! row, so concurrent changes to one group are applied one after the other
//! and the "exactly one owner" rule holds between statements too.

mod access;
mod details;
mod members;

pub use details::{GroupDetails, details};

use axum::extract::State;
use axum::http::StatusCode;
use confab_common::entity::group_members::Role;
use confab_common::wire::EventKind;
use confab_common::{GroupId, UserId};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{AuthUser, Json, Path};
use crate::routes::events;
use crate::routes::rules::GROUP_NAME_CHARS;
use crate::state::AppState;
use crate::store::groups;

use access::{insufficient_role, lock_as_member, no_such_group, require_friends};

/// The routes of this module and of [`members`].
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_group, list_groups))
        .routes(routes!(get_group, rename_group, delete_group))
        .merge(members::router())
}

/// A group in the caller's list.
#[derive(Debug, Serialize, ToSchema)]
struct GroupSummary {
    id: i64,
    name: String,
    owner_id: i64,
    /// Unix milliseconds.
    created_at: i64,
    /// The caller's role.
    #[schema(value_type = Role)]
    role: String,
    member_count: i64,
}

impl From<groups::Summary> for GroupSummary {
    fn from(group: groups::Summary) -> Self {
        Self {
            id: group.id,
            name: group.name,
            owner_id: group.owner_id,
            created_at: group.created_at,
            role: group.role,
            member_count: group.member_count,
        }
    }
}

/// Checks a group name: 1-[`GROUP_NAME_CHARS`] characters after trimming,
/// no control characters.
fn validate_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if (1..=GROUP_NAME_CHARS).contains(&name.chars().count()) && !name.chars().any(char::is_control)
    {
        Ok(name.to_owned())
    } else {
        Err(
            ApiError::invalid(ErrorCode::InvalidName).with_message(format!(
                "a group name is 1 to {GROUP_NAME_CHARS} characters, without control characters"
            )),
        )
    }
}

/// A new group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    /// 1-64 characters.
    name: String,
    /// Friends of the creator to add; the creator is added as owner.
    #[serde(default)]
    member_ids: Vec<i64>,
}

/// Creates a group owned by the caller, with some of their friends in it.
#[utoipa::path(
    post, path = "/api/groups", tag = "groups",
    request_body = NewGroup,
    security(("bearer" = [])),
    responses(
        (status = 201, body = GroupDetails),
        (status = 403, body = ErrorBody, description = "not_friends"),
        (status = 422, body = ErrorBody, description = "invalid_name, group_full"),
    )
)]
async fn create_group(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<NewGroup>,
) -> ApiResult<(StatusCode, Json<GroupDetails>)> {
    let name = validate_name(&body.name)?;
    let mut invited: Vec<UserId> = body
        .member_ids
        .into_iter()
        .map(UserId)
        .filter(|&id| id != me)
        .collect();
    invited.sort_unstable();
    invited.dedup();
    members::check_size(&state, invited.len() as u64 + 1)?;
    require_friends(&state.db, me, &invited).await?;

    let txn = state.db.begin().await?;
    let id = groups::create(&txn, name, me, &invited).await?;
    txn.commit().await?;
    // A send to this id before it existed may have cached "no such group".
    state.forget_members(id).await;
    tracing::info!(group_id = id.0, user_id = me.0, "group created");
    let group = details(&state, id, me).await?;
    let event = json!({ "group": &group });
    events::send(&state, group.member_ids(), EventKind::GroupAdded, event).await;
    Ok((StatusCode::CREATED, Json(group)))
}

/// The groups the caller is in, oldest first.
#[utoipa::path(
    get, path = "/api/groups", tag = "groups",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<GroupSummary>),
    )
)]
async fn list_groups(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<Json<Vec<GroupSummary>>> {
    let summaries = groups::summaries(&state.db, me).await?;
    Ok(Json(
        summaries.into_iter().map(GroupSummary::from).collect(),
    ))
}

/// A group with its members, for members only.
#[utoipa::path(
    get, path = "/api/groups/{id}", tag = "groups",
    params(("id" = i64, Path, description = "group id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = GroupDetails),
        (status = 403, body = ErrorBody, description = "not_member"),
        (status = 404, body = ErrorBody, description = "no_such_group"),
    )
)]
async fn get_group(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<GroupDetails>> {
    Ok(Json(details(&state, GroupId(id), me).await?))
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// Renames a group (owner or admin).
#[utoipa::path(
    patch, path = "/api/groups/{id}", tag = "groups",
    params(("id" = i64, Path, description = "group id")),
    request_body = Rename,
    security(("bearer" = [])),
    responses(
        (status = 200, body = GroupDetails),
        (status = 403, body = ErrorBody, description = "not_member, insufficient_role"),
        (status = 404, body = ErrorBody, description = "no_such_group"),
        (status = 422, body = ErrorBody, description = "invalid_name"),
    )
)]
async fn rename_group(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
    Json(body): Json<Rename>,
) -> ApiResult<Json<GroupDetails>> {
    let id = GroupId(id);
    let name = validate_name(&body.name)?;
    let txn = state.db.begin().await?;
    if lock_as_member(&txn, id, me).await? == Role::Member {
        return Err(insufficient_role(
            "only the owner and admins may rename a group",
        ));
    }
    if !groups::rename(&txn, id, name.clone()).await? {
        return Err(no_such_group());
    }
    txn.commit().await?;
    let group = details(&state, id, me).await?;
    let event = json!({ "group_id": id, "name": name });
    events::send(&state, group.member_ids(), EventKind::GroupRenamed, event).await;
    Ok(Json(group))
}

/// Disbands a group (owner only).
#[utoipa::path(
    delete, path = "/api/groups/{id}", tag = "groups",
    params(("id" = i64, Path, description = "group id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "disbanded"),
        (status = 403, body = ErrorBody, description = "not_member, insufficient_role"),
        (status = 404, body = ErrorBody, description = "no_such_group"),
    )
)]
async fn delete_group(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let id = GroupId(id);
    let txn = state.db.begin().await?;
    if lock_as_member(&txn, id, me).await? != Role::Owner {
        return Err(insufficient_role("only the owner may disband a group"));
    }
    let members = groups::member_ids(&txn, id).await?;
    groups::delete(&txn, id).await?;
    txn.commit().await?;
    state.forget_members(id).await;
    events::send(
        &state,
        members,
        EventKind::GroupDisbanded,
        json!({ "group_id": id }),
    )
    .await;
    tracing::info!(group_id = id.0, user_id = me.0, "group disbanded");
    Ok(StatusCode::NO_CONTENT)
}
