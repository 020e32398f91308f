//! The dispatcher's store step: every message of a batch is appended, once,
//! to its conversation's log with the next `seq`. The dispatcher is the
//! ordering point: a batch locks its conversations' rows (in id order, so
//! two dispatchers never deadlock), numbers its new messages in routing
//! order, and moves each conversation's `last_seq` once, all in one
//! transaction of four statements however many messages and recipients it
//! has. Nodes read the log (`node/src/store/log.rs`).

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement,
    TransactionTrait,
};

use confab_common::envelope::Envelope;
use confab_common::wire::{MessagePayload, Target};
use confab_common::{MessageId, UserId};

/// Which conversation a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvKey {
    /// A direct pair, the smaller id first.
    Direct(i64, i64),
    Group(i64),
}

impl ConvKey {
    /// The conversation of `message`.
    pub fn of(message: &MessagePayload) -> Self {
        match message.to {
            Target::User(UserId(to)) => {
                let from = message.from.0;
                Self::Direct(from.min(to), from.max(to))
            }
            Target::Group(group) => Self::Group(group.0),
        }
    }
}

/// Where a message sits in its conversation's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Logged {
    pub conv: i64,
    pub seq: i64,
}

#[derive(Debug, FromQueryResult)]
struct ConvRow {
    id: i64,
    user_lo: Option<i64>,
    user_hi: Option<i64>,
    group_id: Option<i64>,
    last_seq: i64,
}

#[derive(Debug, FromQueryResult)]
struct LoggedRow {
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
    db: &DatabaseConnection,
    batch: &[&Envelope],
) -> Result<HashMap<MessageId, Logged>, DbErr> {
    let txn = db.begin().await?;
    let convs = lock_conversations(&txn, batch).await?;
    let ids: Vec<i64> = batch.iter().map(|e| e.message.msg_id.0).collect();
    // Read after the locks: a dispatcher that logged some of these before
    // (and lost its broker connection before acking) committed first.
    let mut logged: HashMap<MessageId, Logged> =
        LoggedRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT msg_id, conv_id, seq FROM messages WHERE msg_id = ANY($1)",
            [ids.into()],
        ))
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| {
            let at = Logged {
                conv: r.conv_id,
                seq: r.seq,
            };
            (MessageId(r.msg_id), at)
        })
        .collect();

    let mut last: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut rows = NewRows::default();
    for envelope in batch {
        let message = &envelope.message;
        if logged.contains_key(&message.msg_id) {
            continue;
        }
        let Some(&(conv, last_seq)) = convs.get(&ConvKey::of(message)) else {
            tracing::warn!(msg_id = %message.msg_id, "no conversation (group or account gone); dropped");
            continue;
        };
        let (seq, at) = last.entry(conv).or_insert((last_seq, 0));
        *seq += 1;
        *at = (*at).max(message.ts);
        let seq = *seq;
        rows.push(envelope, conv, seq);
        logged.insert(message.msg_id, Logged { conv, seq });
    }
    if !rows.ids.is_empty() {
        txn.execute_raw(rows.insert()).await?;
        let (convs, (seqs, ats)): (Vec<i64>, (Vec<i64>, Vec<i64>)) = last.into_iter().unzip();
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"UPDATE conversations c SET last_seq = n.seq, last_at = GREATEST(c.last_at, n.at)
               FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS n(id, seq, at)
               WHERE c.id = n.id"#,
            [convs.into(), seqs.into(), ats.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(logged)
}

/// Locks the conversations of `batch` and returns each one's id and
/// `last_seq`.
async fn lock_conversations(
    txn: &impl ConnectionTrait,
    batch: &[&Envelope],
) -> Result<HashMap<ConvKey, (i64, i64)>, DbErr> {
    let (mut los, mut his, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for envelope in batch {
        match ConvKey::of(&envelope.message) {
            ConvKey::Direct(lo, hi) => {
                los.push(lo);
                his.push(hi);
            }
            ConvKey::Group(g) => groups.push(g),
        }
    }
    let rows = ConvRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT id, user_lo, user_hi, group_id, last_seq FROM conversations
           WHERE id IN (
               SELECT c.id FROM conversations c
               JOIN unnest($1::bigint[], $2::bigint[]) AS k(lo, hi)
                 ON c.group_id IS NULL AND c.user_lo = k.lo AND c.user_hi = k.hi
               UNION
               SELECT c.id FROM conversations c WHERE c.group_id = ANY($3))
           ORDER BY id
           FOR UPDATE"#,
        [los.into(), his.into(), groups.into()],
    ))
    .all(txn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let key = match (r.group_id, r.user_lo, r.user_hi) {
                (Some(g), _, _) => ConvKey::Group(g),
                (None, Some(lo), Some(hi)) => ConvKey::Direct(lo, hi),
                _ => return None,
            };
            Some((key, (r.id, r.last_seq)))
        })
        .collect())
}

/// The columns of the messages a batch inserts.
#[derive(Debug, Default)]
struct NewRows {
    ids: Vec<i64>,
    senders: Vec<i64>,
    // Arrays of nullable integers do not bind; 0 (never an id) stands for
    // NULL and `NULLIF` turns it back.
    to_users: Vec<i64>,
    to_groups: Vec<i64>,
    bodies: Vec<String>,
    sent_at: Vec<i64>,
    convs: Vec<i64>,
    seqs: Vec<i64>,
    /// `""` stands for NULL, as 0 does for ids.
    devices: Vec<String>,
}

impl NewRows {
    fn push(&mut self, envelope: &Envelope, conv: i64, seq: i64) {
        let m = &envelope.message;
        let (user, group) = match m.to {
            Target::User(u) => (u.0, 0),
            Target::Group(g) => (0, g.0),
        };
        self.ids.push(m.msg_id.0);
        self.senders.push(m.from.0);
        self.to_users.push(user);
        self.to_groups.push(group);
        self.bodies.push(m.body.clone());
        self.sent_at.push(m.ts);
        self.convs.push(conv);
        self.seqs.push(seq);
        self.devices
            .push(envelope.device.clone().unwrap_or_default());
    }

    /// One `INSERT` of every row. No `ON CONFLICT`: under the locks a clash
    /// cannot happen, and if it did the batch must fail, not slip a seq.
    fn insert(self) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"INSERT INTO messages (msg_id, sender_id, to_user_id, to_group_id, body, sent_at,
                                    conv_id, seq, sender_device)
               SELECT id, sender, NULLIF(to_user, 0), NULLIF(to_group, 0), body, sent_at, conv, seq,
                      NULLIF(device, '')
               FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                           $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])
                    AS t(id, sender, to_user, to_group, body, sent_at, conv, seq, device)"#,
            [
                self.ids.into(),
                self.senders.into(),
                self.to_users.into(),
                self.to_groups.into(),
                self.bodies.into(),
                self.sent_at.into(),
                self.convs.into(),
                self.seqs.into(),
                self.devices.into(),
            ],
        )
    }
}
