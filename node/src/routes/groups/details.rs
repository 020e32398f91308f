//! A group's details as the API shows them: the group with its members,
//! their roles and whether they are online.

use confab_common::entity::group_members::Role;
use confab_common::{GroupId, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{no_such_group, not_member};
use crate::error::{ApiError, ApiResult};
use crate::routes::users::{Profile, load_profiles};
use crate::state::AppState;
use crate::store::groups;

/// A group with its members, as `GET /api/groups/{id}` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDetails {
    id: GroupId,
    name: String,
    owner_id: UserId,
    /// Unix milliseconds.
    created_at: i64,
    members: Vec<Member>,
}

/// One member of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    user: Profile,
    role: Role,
    online: bool,
}

impl GroupDetails {
    /// Everyone in the group.
    pub fn member_ids(&self) -> Vec<UserId> {
        self.members.iter().map(|m| m.user.id).collect()
    }
}

/// Loads group `id` with its members and their online state, if the caller
/// is one of them.
pub async fn details(state: &AppState, id: GroupId, me: UserId) -> ApiResult<GroupDetails> {
    let group = groups::find(&state.db, id)
        .await?
        .ok_or_else(no_such_group)?;
    let members = groups::members(&state.db, id).await?;
    if !members.iter().any(|m| m.user_id == me.0) {
        return Err(not_member());
    }
    let ids: Vec<UserId> = members.iter().map(|m| UserId(m.user_id)).collect();
    let profiles = load_profiles(state, &ids).await?;
    let online = state.online(&ids).await;
    let owner_id = members
        .iter()
        .find(|m| m.role == Role::Owner)
        .map(|m| UserId(m.user_id))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("group {id} has no owner")))?;
    let role = |user: UserId| {
        members
            .iter()
            .find(|m| m.user_id == user.0)
            .map_or(Role::Member, |m| m.role)
    };
    let mut members: Vec<Member> = profiles
        .into_iter()
        .map(|user| Member {
            role: role(user.id),
            online: online.contains(&user.id),
            user,
        })
        .collect();
    // Owner first, then admins, then members; by username within each.
    members.sort_by_key(|m| m.role as u8);
    Ok(GroupDetails {
        id,
        name: group.name,
        owner_id,
        created_at: group.created_at.timestamp_millis(),
        members,
    })
}
