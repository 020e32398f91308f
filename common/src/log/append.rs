//! Appending to the logs, by the dispatcher only: every message of a batch
//! is appended, once, to its conversation's log with the next `seq`. The
//! dispatcher is the ordering point: one statement (`append_messages`, a
//! SQL function of the migrations) locks the batch's conversations (in id
//! order, so dispatchers active on different shards never deadlock),
//! numbers its new messages in routing order, inserts them and moves each
//! conversation's `last_seq` once — one round trip however many messages
//! and recipients the batch has.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use crate::envelope::Envelope;
use crate::ids::{ConvId, MessageId, Seq};
use crate::wire::Target;

/// Where an appended message sits: its conversation and its `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Appended {
    pub conv: ConvId,
    pub seq: Seq,
}

#[derive(Debug, FromQueryResult)]
struct AppendedRow {
    msg_id: i64,
    conv_id: i64,
    seq: i64,
}

/// Appends `batch` (in routing order) to the logs and returns where each
/// message sits, by id. Idempotent: a message already in a log keeps its
/// place, so a redelivered batch changes nothing and numbers nothing twice.
/// A message without a conversation (its group was disbanded, or an account
/// is gone) is left out.
pub async fn append(
    db: &impl ConnectionTrait,
    batch: &[&Envelope],
) -> Result<HashMap<MessageId, Appended>, DbErr> {
    if batch.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = AppendedRow::find_by_statement(Columns::of(batch).statement())
        .all(db)
        .await?;
    let appended: HashMap<MessageId, Appended> = rows
        .into_iter()
        .map(|r| {
            let at = Appended {
                conv: ConvId(r.conv_id),
                seq: Seq(r.seq),
            };
            (MessageId(r.msg_id), at)
        })
        .collect();
    let dropped = batch
        .iter()
        .filter(|e| !appended.contains_key(&e.message.msg_id))
        .count();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "messages without a conversation (group or account gone) dropped"
        );
    }
    Ok(appended)
}

/// The batch as the columns `append_messages` takes.
#[derive(Debug, Default)]
struct Columns {
    ids: Vec<i64>,
    senders: Vec<i64>,
    // Arrays of nullable integers do not bind; 0 (never an id) stands for
    // NULL and the function's `NULLIF` turns it back.
    to_users: Vec<i64>,
    to_groups: Vec<i64>,
    bodies: Vec<String>,
    sent_at: Vec<i64>,
    /// `""` stands for NULL, as 0 does for ids.
    devices: Vec<String>,
}

impl Columns {
    fn of(batch: &[&Envelope]) -> Self {
        let mut c = Self::default();
        for envelope in batch {
            let m = &envelope.message;
            let (user, group) = match m.to {
                Target::User(u) => (u.0, 0),
                Target::Group(g) => (0, g.0),
            };
            c.ids.push(m.msg_id.0);
            c.senders.push(m.from.0);
            c.to_users.push(user);
            c.to_groups.push(group);
            c.bodies.push(m.body.clone());
            c.sent_at.push(m.ts);
            c.devices.push(
                envelope
                    .device
                    .as_ref()
                    .map_or_else(String::new, |d| d.to_string()),
            );
        }
        c
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"SELECT msg_id, conv_id, seq
               FROM append_messages($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                    $5::text[], $6::bigint[], $7::text[])"#,
            [
                self.ids.into(),
                self.senders.into(),
                self.to_users.into(),
                self.to_groups.into(),
                self.bodies.into(),
                self.sent_at.into(),
                self.devices.into(),
            ],
        )
    }
}
