//! Accounts, as the message path and the REST handlers look them up.

use confab_common::UserId;
use confab_common::entity::users;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

/// User `id`'s account, if there is one.
pub async fn find(db: &impl ConnectionTrait, id: UserId) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id.0).one(db).await
}

/// Whether user `id` exists.
pub async fn exists(db: &impl ConnectionTrait, id: UserId) -> Result<bool, DbErr> {
    Ok(find(db, id).await?.is_some())
}
