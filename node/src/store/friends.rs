//! Friend requests and friendships. The database's unique indexes, not a
//! read-then-write check, keep one pending request and one friendship per
//! pair under concurrent requests; an answer locks its request row.

use chrono::Utc;
use confab_common::UserId;
use confab_common::entity::friend_requests::{self, Status};
use confab_common::entity::friendships;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::is_unique_violation;

/// The ids of `user`'s friends: defined beside the entity, where the
/// message path's social lookup (`confab_common::social`) reads it too.
pub use confab_common::entity::friendships::friends_of;

/// Why a request was not stored.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A request between the two is pending already, in either direction:
    /// the partial unique index on the pair said so.
    #[error("a friend request between the two is pending")]
    Pending,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Whether `a` and `b` are friends: one primary-key probe.
pub async fn are_friends(db: &impl ConnectionTrait, a: UserId, b: UserId) -> Result<bool, DbErr> {
    Ok(friendships::Entity::find_by_id(friendships::pair(a, b))
        .one(db)
        .await?
        .is_some())
}

/// Stores a pending request from `from` to `to`.
pub async fn request(
    db: &impl ConnectionTrait,
    from: UserId,
    to: UserId,
) -> Result<friend_requests::Model, RequestError> {
    friend_requests::ActiveModel {
        from_user_id: Set(from.0),
        to_user_id: Set(to.0),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            RequestError::Pending
        } else {
            e.into()
        }
    })
}

/// `user`'s pending requests, sent and received, oldest first.
pub async fn pending(
    db: &impl ConnectionTrait,
    user: UserId,
) -> Result<Vec<friend_requests::Model>, DbErr> {
    friend_requests::Entity::find()
        .filter(friend_requests::Column::Status.eq(Status::Pending))
        .filter(
            Condition::any()
                .add(friend_requests::Column::FromUserId.eq(user.0))
                .add(friend_requests::Column::ToUserId.eq(user.0)),
        )
        .order_by_asc(friend_requests::Column::Id)
        .all(db)
        .await
}

/// Request `id`, locked (`FOR UPDATE`) for the rest of `txn`, so that two
/// answers to it apply one after the other.
pub async fn lock_request(
    txn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<friend_requests::Model>, DbErr> {
    friend_requests::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await
}

/// Marks `request` answered with `outcome`, now, and returns it as stored.
pub async fn answer(
    txn: &impl ConnectionTrait,
    request: friend_requests::Model,
    outcome: Status,
) -> Result<friend_requests::Model, DbErr> {
    let mut request = request.into_active_model();
    request.status = Set(outcome);
    request.responded_at = Set(Some(Utc::now().into()));
    request.update(txn).await
}

/// Makes `a` and `b` friends (nothing if they are already).
pub async fn befriend(txn: &impl ConnectionTrait, a: UserId, b: UserId) -> Result<(), DbErr> {
    let (user_lo, user_hi) = friendships::pair(a, b);
    friendships::Entity::insert(friendships::ActiveModel {
        user_lo: Set(user_lo),
        user_hi: Set(user_hi),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([friendships::Column::UserLo, friendships::Column::UserHi])
    .exec(txn)
    .await?;
    Ok(())
}

/// Ends the friendship of `a` and `b`; `false` if there was none.
pub async fn unfriend(db: &impl ConnectionTrait, a: UserId, b: UserId) -> Result<bool, DbErr> {
    let deleted = friendships::Entity::delete_by_id(friendships::pair(a, b))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}
