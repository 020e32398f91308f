//! Group membership: add friends, remove (or leave), change roles.
//!
//! The rules: any member may add their own friends; the owner removes anyone,
//! an admin removes plain members, everyone may remove themself, except the
//! owner, who must hand ownership over first; only the owner changes roles,
//! and giving someone `owner` hands ownership over (the old owner becomes an
//! admin).

use axum::extract::State;
use axum::http::StatusCode;
use confab_common::entity::group_members::Role;
use confab_common::wire::EventKind;
use confab_common::{GroupId, UserId};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::{insufficient_role, lock_as_member, require_friends};
use super::details::{GroupDetails, details};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{AuthUser, Json, Path};
use crate::routes::events;
use crate::state::AppState;
use crate::store::groups;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_members))
        .routes(routes!(remove_member, set_role))
}

/// Refuses a group of `size` members if it is over the configured maximum.
pub(super) fn check_size(state: &AppState, size: u64) -> ApiResult<()> {
    if size > state.max_group_members {
        return Err(
            ApiError::invalid(ErrorCode::GroupFull).with_message(format!(
                "a group has at most {} members",
                state.max_group_members
            )),
        );
    }
    Ok(())
}

/// The 404 for a user who is not in the group.
fn no_such_member() -> ApiError {
    ApiError::not_found(ErrorCode::NoSuchMember)
}

/// Whom to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMembers {
    /// Friends of the caller; those already in the group are skipped.
    user_ids: Vec<i64>,
}

/// Adds some of the caller's friends to a group the caller is in.
#[utoipa::path(
    post, path = "/api/groups/{id}/members", tag = "groups",
    params(("id" = i64, Path, description = "group id")),
    request_body = NewMembers,
    security(("bearer" = [])),
    responses(
        (status = 200, body = GroupDetails),
        (status = 403, body = ErrorBody, description = "not_member, not_friends"),
        (status = 404, body = ErrorBody, description = "no_such_group"),
        (status = 422, body = ErrorBody, description = "group_full"),
    )
)]
async fn add_members(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
    Json(body): Json<NewMembers>,
) -> ApiResult<Json<GroupDetails>> {
    let id = GroupId(id);
    let mut users: Vec<UserId> = body
        .user_ids
        .into_iter()
        .map(UserId)
        .filter(|&u| u != me)
        .collect();
    users.sort_unstable();
    users.dedup();
    check_size(&state, users.len() as u64)?;

    let txn = state.db.begin().await?;
    lock_as_member(&txn, id, me).await?;
    let existing = groups::member_ids(&txn, id).await?;
    users.retain(|u| !existing.contains(u));
    require_friends(&txn, me, &users).await?;
    check_size(&state, (existing.len() + users.len()) as u64)?;
    groups::add_members(&txn, id, &users).await?;
    txn.commit().await?;
    state.forget_members(id).await;
    let group = details(&state, id, me).await?;
    if !users.is_empty() {
        let event = json!({ "group": &group, "user_ids": &users });
        events::send(&state, existing, EventKind::MemberAdded, event).await;
        events::send(
            &state,
            users,
            EventKind::GroupAdded,
            json!({ "group": &group }),
        )
        .await;
    }
    Ok(Json(group))
}

/// Removes a member from a group, or (with the caller's own id) leaves it.
#[utoipa::path(
    delete, path = "/api/groups/{id}/members/{user_id}", tag = "groups",
    params(
        ("id" = i64, Path, description = "group id"),
        ("user_id" = i64, Path, description = "the member to remove; the caller's own id to leave"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "removed"),
        (status = 403, body = ErrorBody, description = "not_member, insufficient_role"),
        (status = 404, body = ErrorBody, description = "no_such_group, no_such_member"),
        (status = 409, body = ErrorBody, description = "owner_must_transfer"),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, user_id)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    let (id, target) = (GroupId(id), UserId(user_id));
    let txn = state.db.begin().await?;
    let my_role = lock_as_member(&txn, id, me).await?;
    let target_role = groups::role_of(&txn, id, target)
        .await?
        .ok_or_else(no_such_member)?;
    let allowed = match (my_role, target_role) {
        (_, Role::Owner) if target == me => {
            return Err(ApiError::conflict(ErrorCode::OwnerMustTransfer));
        }
        _ if target == me => true,
        (Role::Owner, _) => true,
        (Role::Admin, Role::Member) => true,
        _ => false,
    };
    if !allowed {
        return Err(insufficient_role(
            "the owner removes anyone, an admin removes plain members",
        ));
    }
    groups::remove_member(&txn, id, target).await?;
    let remaining = groups::member_ids(&txn, id).await?;
    txn.commit().await?;
    state.forget_members(id).await;
    let event = json!({ "group_id": id });
    events::send(&state, vec![target], EventKind::GroupRemoved, event).await;
    let event = json!({ "group_id": id, "user_id": target });
    events::send(&state, remaining, EventKind::MemberRemoved, event).await;
    tracing::info!(
        group_id = id.0,
        user_id = target.0,
        by = me.0,
        "member removed"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: Role,
}

/// Changes a member's role (owner only); `owner` hands ownership over.
#[utoipa::path(
    patch, path = "/api/groups/{id}/members/{user_id}", tag = "groups",
    params(
        ("id" = i64, Path, description = "group id"),
        ("user_id" = i64, Path, description = "the member whose role changes"),
    ),
    request_body = RoleChange,
    security(("bearer" = [])),
    responses(
        (status = 200, body = GroupDetails),
        (status = 403, body = ErrorBody, description = "not_member, insufficient_role"),
        (status = 404, body = ErrorBody, description = "no_such_group, no_such_member"),
        (status = 409, body = ErrorBody, description = "owner_must_transfer (the owner demoting themself)"),
        (status = 422, body = ErrorBody, description = "invalid_field"),
    )
)]
async fn set_role(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, user_id)): Path<(i64, i64)>,
    Json(body): Json<RoleChange>,
) -> ApiResult<Json<GroupDetails>> {
    let (id, target) = (GroupId(id), UserId(user_id));
    let txn = state.db.begin().await?;
    if lock_as_member(&txn, id, me).await? != Role::Owner {
        return Err(insufficient_role("only the owner changes roles"));
    }
    let member = groups::member(&txn, id, target)
        .await?
        .ok_or_else(no_such_member)?;
    if target == me && body.role != Role::Owner {
        return Err(ApiError::conflict(ErrorCode::OwnerMustTransfer)
            .with_message("the owner steps down by giving `owner` to another member"));
    }
    if member.role != body.role {
        if body.role == Role::Owner {
            // Demote first: the one-owner index is checked per statement.
            let me_row = groups::member(&txn, id, me)
                .await?
                .ok_or_else(no_such_member)?;
            groups::set_role(&txn, me_row, Role::Admin).await?;
        }
        groups::set_role(&txn, member, body.role).await?;
    }
    txn.commit().await?;
    let group = details(&state, id, me).await?;
    let event = json!({ "group": &group, "user_id": target, "role": body.role });
    events::send(&state, group.member_ids(), EventKind::RoleChanged, event).await;
    Ok(Json(group))
}
