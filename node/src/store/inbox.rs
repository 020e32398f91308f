//! A node's side of the inbox: a connection replays the rows stored for its
//! user in order (page by page), and client acks delete them in batches.
//! The dispatcher writes them (`dispatcher/src/store.rs`).

use confab_common::wire::{MessagePayload, Target};
use confab_common::{GroupId, MessageId, UserId};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

/// One row of a drain: a message and its position.
#[derive(Debug, Clone, FromQueryResult)]
struct Row {
    seq: i64,
    msg_id: i64,
    sender_id: i64,
    to_user_id: Option<i64>,
    to_group_id: Option<i64>,
    body: String,
    sent_at: i64,
}

/// Up to `limit` messages of `user`'s inbox after position `after`, in order.
pub async fn page(
    db: &impl ConnectionTrait,
    user: UserId,
    after: i64,
    limit: u64,
) -> Result<Vec<(i64, MessagePayload)>, DbErr> {
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT i.seq, m.msg_id, m.sender_id, m.to_user_id, m.to_group_id, m.body, m.sent_at
           FROM inbox i JOIN messages m ON m.msg_id = i.msg_id
           WHERE i.recipient_id = $1 AND i.seq > $2
           ORDER BY i.seq
           LIMIT $3"#,
        [
            user.0.into(),
            after.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let to = match (row.to_user_id, row.to_group_id) {
                (Some(u), _) => Target::User(UserId(u)),
                (None, Some(g)) => Target::Group(GroupId(g)),
                (None, None) => return None,
            };
            Some((
                row.seq,
                MessagePayload {
                    msg_id: MessageId(row.msg_id),
                    from: UserId(row.sender_id),
                    to,
                    body: row.body,
                    ts: row.sent_at,
                },
            ))
        })
        .collect())
}

/// Removes acked (recipient, message) pairs, all in one statement; pairs that
/// are not there are ignored. Returns how many rows went.
pub async fn remove(
    db: &impl ConnectionTrait,
    acked: &[(UserId, MessageId)],
) -> Result<u64, DbErr> {
    if acked.is_empty() {
        return Ok(0);
    }
    let (users, msgs): (Vec<i64>, Vec<i64>) = acked.iter().map(|(u, m)| (u.0, m.0)).unzip();
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"DELETE FROM inbox i
               USING unnest($1::bigint[], $2::bigint[]) AS a(r, m)
               WHERE i.recipient_id = a.r AND i.msg_id = a.m"#,
            [users.into(), msgs.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}
