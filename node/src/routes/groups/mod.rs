//! Group chats: create, list, read, rename, disband. Membership changes live
//! in [`members`].
//!
//! Every change to a group runs in a transaction that first locks the group's
//! row, so concurrent changes to one group are applied one after the other
//! and the "exactly one owner" rule holds between statements too.

mod details;
mod members;

pub use details::{GroupDetails, details};

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use confab_common::entity::group_members::{self, Role};
use confab_common::entity::{friendships, groups};
use confab_common::wire::EventKind;
use confab_common::{GroupId, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, QuerySelect, Statement, TransactionTrait,
};
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

/// The routes of this module and of [`members`].
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_group, list_groups))
        .routes(routes!(get_group, rename_group, delete_group))
        .merge(members::router())
}

/// A group in the caller's list.
#[derive(Debug, Serialize, ToSchema, FromQueryResult)]
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

/// The 404 for an unknown group.
fn no_such_group() -> ApiError {
    ApiError::not_found(ErrorCode::NoSuchGroup)
}

/// The 403 for a group the caller is not in.
fn not_member() -> ApiError {
    ApiError::forbidden(ErrorCode::NotMember)
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

/// Locks group `id` for the rest of `txn` and returns the caller's role in
/// it: 404 if the group does not exist, 403 if the caller is not a member.
async fn lock_as_member(txn: &impl ConnectionTrait, id: GroupId, me: UserId) -> ApiResult<Role> {
    groups::Entity::find_by_id(id.0)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(no_such_group)?;
    role_of(txn, id, me).await?.ok_or_else(not_member)
}

/// `user`'s role in group `id`, if they are a member.
async fn role_of(db: &impl ConnectionTrait, id: GroupId, user: UserId) -> ApiResult<Option<Role>> {
    Ok(group_members::Entity::find_by_id((id.0, user.0))
        .one(db)
        .await?
        .map(|m| m.role))
}

/// Checks that every one of `candidates` is a friend of `me`.
async fn require_friends(
    db: &impl ConnectionTrait,
    me: UserId,
    candidates: &[UserId],
) -> ApiResult<()> {
    if candidates.is_empty() {
        return Ok(());
    }
    let friends: HashSet<UserId> = friendships::friends_of(db, me).await?.into_iter().collect();
    match candidates.iter().find(|id| !friends.contains(id)) {
        Some(stranger) => Err(
            ApiError::forbidden(ErrorCode::NotFriends).with_message(format!(
                "user {stranger} is not your friend; only friends can be added to a group"
            )),
        ),
        None => Ok(()),
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
    let group = groups::ActiveModel {
        name: Set(name),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let id = GroupId(group.id);
    let rows = std::iter::once((me, Role::Owner))
        .chain(invited.iter().map(|&user| (user, Role::Member)))
        .map(|(user, role)| group_members::ActiveModel {
            group_id: Set(id.0),
            user_id: Set(user.0),
            role: Set(role),
            ..Default::default()
        });
    group_members::Entity::insert_many(rows).exec(&txn).await?;
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
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"
        SELECT g.id, g.name,
               floor(EXTRACT(EPOCH FROM g.created_at) * 1000)::BIGINT AS created_at,
               mine.role,
               owner.user_id AS owner_id,
               (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS member_count
        FROM group_members mine
        JOIN groups g ON g.id = mine.group_id
        JOIN group_members owner ON owner.group_id = g.id AND owner.role = 'owner'
        WHERE mine.user_id = $1
        ORDER BY g.id
        "#,
        [me.0.into()],
    );
    Ok(Json(
        GroupSummary::find_by_statement(statement)
            .all(&state.db)
            .await?,
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
    let mut group = groups::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or_else(no_such_group)?
        .into_active_model();
    group.name = Set(name.clone());
    group.update(&txn).await?;
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
    let members = member_ids(&txn, id).await?;
    groups::Entity::delete_by_id(id.0).exec(&txn).await?;
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

/// Everyone in group `id` now.
pub async fn member_ids(db: &impl ConnectionTrait, id: GroupId) -> ApiResult<Vec<UserId>> {
    Ok(group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(id.0))
        .all(db)
        .await?
        .into_iter()
        .map(|m| UserId(m.user_id))
        .collect())
}

/// The 403 for a member whose role does not allow the change.
fn insufficient_role(message: &'static str) -> ApiError {
    ApiError::forbidden(ErrorCode::InsufficientRole).with_message(message)
}
