//! `inbox`: which recipient has not yet acked which message.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub recipient_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub msg_id: i64,
    /// Routing order; assigned by Postgres (`GENERATED ALWAYS`), never set.
    pub seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
