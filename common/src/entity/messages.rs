//! `messages`: every routed message, stored once, in its conversation's log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub msg_id: i64,
    pub sender_id: i64,
    pub to_user_id: Option<i64>,
    pub to_group_id: Option<i64>,
    pub body: String,
    pub sent_at: i64,
    pub conv_id: i64,
    pub seq: i64,
    pub sender_device: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
