//! The REST history: a user's conversations with their positions, and
//! pages of one conversation.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use super::{ROW_COLUMNS, Row};
use crate::ids::{ConvId, Seq, UserId};

/// Unread counts stop at this many (the count is a scan).
pub const MAX_UNREAD: i64 = 10_000;

/// One of a user's conversations, as stored.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ConversationRow {
    pub conv_id: i64,
    pub user_lo: Option<i64>,
    pub user_hi: Option<i64>,
    pub group_id: Option<i64>,
    pub last_seq: i64,
    pub read_seq: i64,
    pub peer_read_seq: Option<i64>,
    pub unread: i64,
    /// The newest message the user may read, if any.
    pub last_msg_id: Option<i64>,
    pub last_sender_id: Option<i64>,
    pub last_to_user_id: Option<i64>,
    pub last_to_group_id: Option<i64>,
    pub last_body: Option<String>,
    pub last_sent_at: Option<i64>,
}

impl ConversationRow {
    /// The newest message, as a log row.
    pub fn last_message(&self) -> Option<Row> {
        Some(Row {
            conv_id: self.conv_id,
            seq: self.last_seq,
            msg_id: self.last_msg_id?,
            sender_id: self.last_sender_id?,
            to_user_id: self.last_to_user_id,
            to_group_id: self.last_to_group_id,
            body: self.last_body.clone()?,
            sent_at: self.last_sent_at?,
            sender_device: None,
        })
    }
}

/// `user`'s conversations, most recent activity first.
pub async fn conversations(
    db: &impl ConnectionTrait,
    user: UserId,
    limit: u64,
) -> Result<Vec<ConversationRow>, DbErr> {
    ConversationRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT c.id AS conv_id, c.user_lo, c.user_hi, c.group_id, c.last_seq,
                  GREATEST(COALESCE(r.seq, 0), uc.floor_seq) AS read_seq,
                  peer.seq AS peer_read_seq,
                  (SELECT count(*) FROM (
                       SELECT 1 FROM messages m
                       WHERE m.conv_id = c.id
                         AND m.seq > GREATEST(COALESCE(r.seq, 0), uc.floor_seq)
                         AND m.sender_id <> $1
                       LIMIT $3) unread) AS unread,
                  lm.msg_id AS last_msg_id, lm.sender_id AS last_sender_id,
                  lm.to_user_id AS last_to_user_id, lm.to_group_id AS last_to_group_id,
                  lm.body AS last_body, lm.sent_at AS last_sent_at
           FROM user_conversations($1) uc
           JOIN conversations c ON c.id = uc.conv_id
           LEFT JOIN read_positions r ON r.user_id = $1 AND r.conv_id = c.id
           LEFT JOIN read_positions peer
             ON c.group_id IS NULL AND peer.conv_id = c.id
            AND peer.user_id = CASE WHEN c.user_lo = $1 THEN c.user_hi ELSE c.user_lo END
           LEFT JOIN messages lm
             ON lm.conv_id = c.id AND lm.seq = c.last_seq AND c.last_seq > uc.floor_seq
           ORDER BY c.last_at DESC, c.id DESC
           LIMIT $2"#,
        [
            user.0.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
            MAX_UNREAD.into(),
        ],
    ))
    .all(db)
    .await
}

/// Where a user may read a conversation from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readable {
    pub conv: ConvId,
    /// The oldest seq the user can still read (what is older was never
    /// theirs, or is gone by retention).
    pub first_seq: Seq,
    pub last_seq: Seq,
}

#[derive(Debug, FromQueryResult)]
struct ReadableRow {
    first_seq: i64,
    last_seq: i64,
}

/// The conversation `conv` as `user` may read it, if they may.
pub async fn readable(
    db: &impl ConnectionTrait,
    user: UserId,
    conv: ConvId,
) -> Result<Option<Readable>, DbErr> {
    let row = ReadableRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT floor_seq + 1 AS first_seq, last_seq
           FROM user_conversations($1) WHERE conv_id = $2"#,
        [user.0.into(), conv.0.into()],
    ))
    .one(db)
    .await?;
    Ok(row.map(|r| Readable {
        conv,
        first_seq: Seq(r.first_seq),
        last_seq: Seq(r.last_seq),
    }))
}

/// Which way a page of history goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Older than this seq, newest first.
    Before(Seq),
    /// Newer than this seq, oldest first.
    After(Seq),
}

/// Up to `limit` messages of `readable` in `direction`.
pub async fn messages(
    db: &impl ConnectionTrait,
    readable: Readable,
    direction: Direction,
    limit: u64,
) -> Result<Vec<Row>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let floor = readable.first_seq.0 - 1;
    let statement = match direction {
        Direction::Before(before) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {ROW_COLUMNS} FROM messages WHERE conv_id = $1 AND seq < $2 AND seq > $3
                 ORDER BY seq DESC LIMIT $4"
            ),
            [
                readable.conv.0.into(),
                before.0.into(),
                floor.into(),
                limit.into(),
            ],
        ),
        Direction::After(after) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {ROW_COLUMNS} FROM messages WHERE conv_id = $1 AND seq > $2
                 ORDER BY seq LIMIT $3"
            ),
            [
                readable.conv.0.into(),
                after.0.max(floor).into(),
                limit.into(),
            ],
        ),
    };
    Row::find_by_statement(statement).all(db).await
}
