//! The conversation logs: every statement on `messages`, `conversations`,
//! `devices`, `device_positions` and `read_positions` is in this folder, for
//! the node and the dispatcher alike (`docs/architecture.md` has the
//! tables).
//!
//! - [`append`]: the dispatcher numbers and writes a batch (the one writer);
//! - [`devices`]: a device's position in each conversation, the replay
//!   pages read from it, and acks that move it;
//! - [`reads`]: read positions (what a user has seen, on any device);
//! - [`history`]: the REST reads (conversations, pages of one);
//! - [`retention`]: old messages leave.
//!
//! Who is in a conversation is decided in one place, the SQL function
//! `user_conversations(user)` of the migrations (a direct conversation's
//! two users; a group's members, each from the `seq` they joined at):
//! every statement here that asks "may this user …" goes through it.

use crate::ids::{ConvId, DeviceName, GroupId, MessageId, Seq, UserId};
use crate::wire::{MessagePayload, Target};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

pub mod append;
pub mod devices;
pub mod history;
pub mod reads;
pub mod retention;

/// A message as the log holds it: with its conversation and its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub conv: ConvId,
    /// With its `seq`.
    pub message: MessagePayload,
    /// The device it was sent from, if known.
    pub sender_device: Option<DeviceName>,
}

/// How far a connection (or device) has been written in each conversation.
pub type Positions = Vec<(ConvId, Seq)>;

/// One row of `messages`, as stored.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Row {
    pub conv_id: i64,
    pub seq: i64,
    pub msg_id: i64,
    pub sender_id: i64,
    pub to_user_id: Option<i64>,
    pub to_group_id: Option<i64>,
    pub body: String,
    pub sent_at: i64,
    pub sender_device: Option<String>,
}

/// The columns of a [`Row`], in its order.
const ROW_COLUMNS: &str =
    "conv_id, seq, msg_id, sender_id, to_user_id, to_group_id, body, sent_at, sender_device";

impl Row {
    /// The message this row holds.
    pub fn into_logged(self) -> Option<Logged> {
        let to = match (self.to_user_id, self.to_group_id) {
            (Some(u), _) => Target::User(UserId(u)),
            (None, Some(g)) => Target::Group(GroupId(g)),
            (None, None) => return None,
        };
        Some(Logged {
            conv: ConvId(self.conv_id),
            message: MessagePayload {
                msg_id: MessageId(self.msg_id),
                from: UserId(self.sender_id),
                to,
                body: self.body,
                ts: self.sent_at,
                seq: Some(Seq(self.seq)),
            },
            sender_device: self.sender_device.map(DeviceName::stored),
        })
    }
}

#[derive(Debug, FromQueryResult)]
struct Found {
    conv_id: i64,
}

/// The conversation `conv` (as `user` sees it) if `user` is in it: a direct
/// conversation with anyone they ever befriended, a group they are a member
/// of.
pub async fn conversation_of(
    db: &impl ConnectionTrait,
    user: UserId,
    conv: Target,
) -> Result<Option<ConvId>, DbErr> {
    let statement = match conv {
        Target::User(other) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"SELECT uc.conv_id FROM user_conversations($1) uc
               JOIN conversations c ON c.id = uc.conv_id
               WHERE c.group_id IS NULL
                 AND c.user_lo = LEAST($1, $2) AND c.user_hi = GREATEST($1, $2)"#,
            [user.0.into(), other.0.into()],
        ),
        Target::Group(group) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"SELECT uc.conv_id FROM user_conversations($1) uc
               JOIN conversations c ON c.id = uc.conv_id
               WHERE c.group_id = $2"#,
            [user.0.into(), group.0.into()],
        ),
    };
    let found = Found::find_by_statement(statement).one(db).await?;
    Ok(found.map(|f| ConvId(f.conv_id)))
}
