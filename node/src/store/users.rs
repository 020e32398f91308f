//! Accounts, as the message path and the REST handlers look them up.

use confab_common::UserId;
use confab_common::entity::users;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// User `id`'s account, if there is one and it was not deleted.
pub async fn find(db: &impl ConnectionTrait, id: UserId) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id.0)
        .filter(users::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// User `id`'s row, deleted or not (a deleted account's profile is shown
/// as such beside the messages it sent).
pub async fn find_any(
    db: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id.0).one(db).await
}

/// Whether user `id` exists.
pub async fn exists(db: &impl ConnectionTrait, id: UserId) -> Result<bool, DbErr> {
    Ok(find(db, id).await?.is_some())
}
