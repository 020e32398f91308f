//! Read positions: how far a user has read each conversation, on any of
//! their devices (a device's delivery position is in [`super::devices`]).
//! A read position never moves back and never passes the newest message.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use super::conversation_of;
use crate::ids::{ConvId, Seq, UserId};
use crate::wire::Target;

#[derive(Debug, FromQueryResult)]
struct Moved {
    seq: i64,
}

/// Why a read position was not set.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The user is not in that conversation (or it has no message yet).
    #[error("no such conversation")]
    NoConversation,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Sets `user`'s read position in `conv` (as the user sees it) to `seq`,
/// capped at the newest message; it never moves back. Returns the position
/// if it moved.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    user: UserId,
    conv: Target,
    seq: Seq,
) -> Result<Option<Seq>, ReadError> {
    let Some(id) = conversation_of(db, user, conv).await? else {
        return Err(ReadError::NoConversation);
    };
    let moved = Moved::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"INSERT INTO read_positions (user_id, conv_id, seq)
           SELECT $1, c.id, LEAST(GREATEST($3, 0), c.last_seq) FROM conversations c WHERE c.id = $2
           ON CONFLICT (user_id, conv_id) DO UPDATE SET seq = EXCLUDED.seq
           WHERE read_positions.seq < EXCLUDED.seq
           RETURNING seq"#,
        [user.0.into(), id.0.into(), seq.0.into()],
    ))
    .one(db)
    .await?;
    Ok(moved.map(|p| Seq(p.seq)))
}

/// How far another participant has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBy {
    pub user: UserId,
    pub seq: Seq,
}

#[derive(Debug, FromQueryResult)]
struct ReadRow {
    user_id: i64,
    seq: i64,
}

/// The read positions of `conv`'s participants other than `user` (a
/// group's current members only).
pub async fn reads(
    db: &impl ConnectionTrait,
    user: UserId,
    conv: ConvId,
) -> Result<Vec<ReadBy>, DbErr> {
    let rows = ReadRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT r.user_id, r.seq FROM read_positions r
           WHERE r.conv_id = $1 AND r.user_id <> $2 AND r.seq > 0
             AND EXISTS (SELECT 1 FROM user_conversations(r.user_id) uc
                         WHERE uc.conv_id = r.conv_id)
           ORDER BY r.user_id"#,
        [conv.0.into(), user.0.into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReadBy {
            user: UserId(r.user_id),
            seq: Seq(r.seq),
        })
        .collect())
}
