//! `group_members`: who is in which group, with which role.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a member may do in a group.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Exactly one per group: renames, removes anyone, changes roles, disbands.
    #[sea_orm(string_value = "owner")]
    Owner,
    /// Renames and removes plain members.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Chats, adds their own friends, leaves.
    #[sea_orm(string_value = "member")]
    Member,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub role: Role,
    pub joined_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
