//! Retention: with `MESSAGE_RETENTION_DAYS`, messages older than that
//! leave the logs, in bounded batches, and each conversation's `first_seq`
//! says where its log now starts (a log has no holes).

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio_util::sync::CancellationToken;

use crate::ids::{EPOCH_MS, MessageId};
use crate::metric;

/// How often the retention job looks for old messages.
const RETENTION_INTERVAL: Duration = Duration::from_secs(600);
/// Most messages one retention statement removes.
const RETENTION_BATCH: i64 = 10_000;

/// Removes messages older than `days` every [`RETENTION_INTERVAL`] until
/// `shutdown`.
pub async fn retention_loop(db: DatabaseConnection, days: u32, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(RETENTION_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let cutoff = crate::ids::now_ms() - i64::from(days) * 86_400_000;
        match expire(&db, cutoff).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, days, "old messages removed"),
            Err(e) => tracing::warn!(error = %e, "retention failed; next time"),
        }
    }
}

/// Removes every message accepted before `cutoff` (Unix ms), a bounded
/// batch per statement, and moves each touched conversation's `first_seq`
/// past what went. Returns how many went.
pub async fn expire(db: &impl ConnectionTrait, cutoff: i64) -> Result<u64, DbErr> {
    // Message ids start with their time: the primary key finds them.
    let below = MessageId::first_at(cutoff.max(EPOCH_MS)).0;
    let mut removed = 0;
    let mut moved: Vec<i64> = Vec::new();
    loop {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"WITH gone AS (
                       DELETE FROM messages WHERE msg_id IN (
                           SELECT msg_id FROM messages WHERE msg_id < $1 LIMIT $2)
                       RETURNING conv_id, seq
                   ), edge AS (
                       SELECT conv_id, max(seq) + 1 AS first_seq, count(*) AS n
                       FROM gone GROUP BY conv_id
                   ), moved AS (
                       UPDATE conversations c SET first_seq = GREATEST(c.first_seq, e.first_seq)
                       FROM edge e WHERE c.id = e.conv_id RETURNING c.id
                   )
                   SELECT (SELECT COALESCE(sum(n), 0)::bigint FROM edge),
                          ARRAY(SELECT id FROM moved)"#,
                [below.into(), RETENTION_BATCH.into()],
            ))
            .await?;
        let batch = row
            .as_ref()
            .and_then(|row| row.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0);
        if let Some(ids) = row.and_then(|row| row.try_get_by_index::<Vec<i64>>(1).ok()) {
            moved.extend(ids);
        }
        removed += u64::try_from(batch).unwrap_or(0);
        if batch < RETENTION_BATCH {
            break;
        }
    }
    if !moved.is_empty() {
        // Whatever is left below a moved `first_seq` (accepted a moment
        // after the cutoff but numbered before one accepted before it)
        // goes too: a log starts at `first_seq`, with no holes. Only the
        // conversations whose `first_seq` moved, each by its own range of
        // the `(conv_id, seq)` index (every conversation was a scan of the
        // whole log).
        moved.sort_unstable();
        moved.dedup();
        let stragglers = db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"DELETE FROM messages m USING conversations c
                   WHERE c.id = ANY ($1) AND m.conv_id = c.id AND m.seq < c.first_seq"#,
                [moved.into()],
            ))
            .await?;
        removed += stragglers.rows_affected();
    }
    metrics::counter!(metric::MESSAGES_EXPIRED).increment(removed);
    Ok(removed)
}
