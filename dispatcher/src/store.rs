//! The dispatcher's store step: every routed message is stored once (in
//! `messages`) with one `inbox` row per recipient, which stays until that
//! recipient acks it. A whole batch is one transaction of two statements.
//! Nodes read and delete the rows (`node/src/store/inbox.rs`).

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement,
    TransactionTrait,
};

use confab_common::wire::{MessagePayload, Target};
use confab_common::{GroupId, UserId};

/// A message and the users it must be stored for.
#[derive(Debug, Clone)]
pub struct ToStore<'a> {
    pub message: &'a MessagePayload,
    pub recipients: &'a [UserId],
}

/// Where one recipient's copy of a message sits in their inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromQueryResult)]
pub struct Stored {
    pub recipient_id: i64,
    pub msg_id: i64,
    pub seq: i64,
}

/// Stores a batch in one transaction and returns the inbox position of every
/// (recipient, message) pair, in insertion order. Idempotent: a message or
/// an inbox row that already exists is kept as it is (with its old `seq`),
/// so a redelivered batch changes nothing. Recipients that do not exist (an
/// account gone since the message was sent) are skipped.
pub async fn store(db: &DatabaseConnection, batch: &[ToStore<'_>]) -> Result<Vec<Stored>, DbErr> {
    let mut msg_ids = Vec::with_capacity(batch.len());
    let mut senders = Vec::with_capacity(batch.len());
    // Arrays of nullable integers do not bind; 0 (never an id) stands for
    // NULL and `NULLIF` turns it back.
    let mut to_users = Vec::with_capacity(batch.len());
    let mut to_groups = Vec::with_capacity(batch.len());
    let mut bodies = Vec::with_capacity(batch.len());
    let mut sent_at = Vec::with_capacity(batch.len());
    let mut recipients = Vec::new();
    let mut recipient_msgs = Vec::new();
    for item in batch {
        let m = item.message;
        msg_ids.push(m.msg_id.0);
        senders.push(m.from.0);
        let (user, group) = match m.to {
            Target::User(UserId(u)) => (u, 0),
            Target::Group(GroupId(g)) => (0, g),
        };
        to_users.push(user);
        to_groups.push(group);
        bodies.push(m.body.clone());
        sent_at.push(m.ts);
        for r in item.recipients {
            recipients.push(r.0);
            recipient_msgs.push(m.msg_id.0);
        }
    }

    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"INSERT INTO messages (msg_id, sender_id, to_user_id, to_group_id, body, sent_at)
           SELECT id, sender, NULLIF(to_user, 0), NULLIF(to_group, 0), body, sent_at
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[])
                AS t(id, sender, to_user, to_group, body, sent_at)
           ON CONFLICT (msg_id) DO NOTHING"#,
        [
            msg_ids.into(),
            senders.into(),
            to_users.into(),
            to_groups.into(),
            bodies.into(),
            sent_at.into(),
        ],
    ))
    .await?;
    // `WITH ORDINALITY` keeps the batch's order in the identity values, so
    // `seq` follows routing order within a batch too. Existing rows are read
    // back in the same statement.
    let stored = Stored::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"WITH wanted AS (
               SELECT w.r AS recipient_id, w.m AS msg_id, w.n
               FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS w(r, m, n)
               JOIN users u ON u.id = w.r
           ),
           inserted AS (
               INSERT INTO inbox (recipient_id, msg_id)
               SELECT recipient_id, msg_id FROM wanted ORDER BY n
               ON CONFLICT (recipient_id, msg_id) DO NOTHING
               RETURNING recipient_id, msg_id, seq
           )
           SELECT w.recipient_id, w.msg_id, COALESCE(i.seq, old.seq) AS seq
           FROM wanted w
           LEFT JOIN inserted i ON i.recipient_id = w.recipient_id AND i.msg_id = w.msg_id
           LEFT JOIN inbox old ON old.recipient_id = w.recipient_id AND old.msg_id = w.msg_id
           WHERE COALESCE(i.seq, old.seq) IS NOT NULL
           ORDER BY w.n"#,
        [recipients.into(), recipient_msgs.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(stored)
}
