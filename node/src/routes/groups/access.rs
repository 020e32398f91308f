//! Who may change a group: the refusals every group route shares, and the
//! lock taken first in each change.

use std::collections::HashSet;

use confab_common::entity::group_members::Role;
use confab_common::{GroupId, UserId};
use sea_orm::ConnectionTrait;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{self, groups};

/// The 404 for an unknown group.
pub(super) fn no_such_group() -> ApiError {
    ApiError::not_found(ErrorCode::NoSuchGroup)
}

/// The 403 for a group the caller is not in.
pub(super) fn not_member() -> ApiError {
    ApiError::forbidden(ErrorCode::NotMember)
}

/// Locks group `id` for the rest of `txn` and returns the caller's role in
/// it: 404 if the group does not exist, 403 if the caller is not a member.
pub(super) async fn lock_as_member(
    txn: &impl ConnectionTrait,
    id: GroupId,
    me: UserId,
) -> ApiResult<Role> {
    if !groups::lock(txn, id).await? {
        return Err(no_such_group());
    }
    groups::role_of(txn, id, me).await?.ok_or_else(not_member)
}

/// Checks that every one of `candidates` is a friend of `me`.
pub(super) async fn require_friends(
    db: &impl ConnectionTrait,
    me: UserId,
    candidates: &[UserId],
) -> ApiResult<()> {
    if candidates.is_empty() {
        return Ok(());
    }
    let friends: HashSet<UserId> = store::friends::friends_of(db, me)
        .await?
        .into_iter()
        .collect();
    match candidates.iter().find(|id| !friends.contains(id)) {
        Some(stranger) => Err(
            ApiError::forbidden(ErrorCode::NotFriends).with_message(format!(
                "user {stranger} is not your friend; only friends can be added to a group"
            )),
        ),
        None => Ok(()),
    }
}

/// The 403 for a member whose role does not allow the change.
pub(super) fn insufficient_role(message: &'static str) -> ApiError {
    ApiError::forbidden(ErrorCode::InsufficientRole).with_message(message)
}
