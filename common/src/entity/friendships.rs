//! `friendships`: one row per pair of friends, the smaller id first.

use sea_orm::entity::prelude::*;
use sea_orm::{Condition, QueryFilter};

use crate::ids::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "friendships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_lo: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_hi: i64,
    pub created_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The primary key of the friendship between `a` and `b`, whichever is first.
pub fn pair(a: UserId, b: UserId) -> (i64, i64) {
    (a.0.min(b.0), a.0.max(b.0))
}

/// The ids of `user`'s friends.
pub async fn friends_of(db: &impl ConnectionTrait, user: UserId) -> Result<Vec<UserId>, DbErr> {
    let rows = Entity::find()
        .filter(
            Condition::any()
                .add(Column::UserLo.eq(user.0))
                .add(Column::UserHi.eq(user.0)),
        )
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|f| {
            UserId(if f.user_lo == user.0 {
                f.user_hi
            } else {
                f.user_lo
            })
        })
        .collect())
}
