//! `inbox`: every message routed to a user, kept until that user acks it.

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
    pub sender_id: i64,
    pub group_id: Option<i64>,
    pub body: String,
    pub sent_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
