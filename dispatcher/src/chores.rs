//! The dispatcher's periodic chores, run by every dispatcher (each is safe
//! to run more than once at a time):
//! - **presence reaping**: a node process that died without closing its
//!   connections leaves its users "online" until its record lapses; the
//!   reaper claims each lapsed record once and tells the friends of users
//!   who went offline with it (a `presence` signal through `input`, routed
//!   like any other);
//! - **retention**: with `MESSAGE_RETENTION_DAYS`, messages older than that
//!   leave the logs, in bounded batches, and each conversation's
//!   `first_seq` says where its log now starts.

use std::time::Duration;

use confab_common::broker::{Broker, BrokerError};
use confab_common::envelope::{Input, Signal, SignalKind};
use confab_common::ids::{EPOCH_MS, MessageId};
use confab_common::presence::{HEARTBEAT_INTERVAL, Presence};
use confab_common::topology::{self, Topology};
use confab_common::{UserId, metric};
use futures_util::future::try_join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio_util::sync::CancellationToken;

/// How often the retention job looks for old messages.
const RETENTION_INTERVAL: Duration = Duration::from_secs(600);
/// Most messages one retention statement removes.
const RETENTION_BATCH: i64 = 10_000;

/// Reaps dead node processes' presence until `shutdown`.
pub async fn reap_loop(
    presence: Presence,
    broker: Broker,
    topology: Topology,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let offline = match presence.reap().await {
            Ok(offline) => offline,
            Err(e) => {
                tracing::debug!(error = %e, "cannot reap presence; next time");
                continue;
            }
        };
        if offline.is_empty() {
            continue;
        }
        tracing::info!(users = offline.len(), "users went offline with a dead node");
        if let Err(e) = announce_offline(&broker, &topology, &offline).await {
            // The records are claimed: these friends are not told. They
            // see the state on their next `GET /api/friends`.
            tracing::warn!(error = %e, "cannot publish presence changes");
        }
    }
}

/// Publishes a `presence` signal (offline) for each of `users` to `input`.
async fn announce_offline(
    broker: &Broker,
    topology: &Topology,
    users: &[UserId],
) -> Result<(), BrokerError> {
    let connection = broker.connection().await?;
    let channel = broker.open_channel(&connection).await?;
    broker
        .bounded(
            "confirm.select",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
    let mut confirms = Vec::with_capacity(users.len());
    for &user in users {
        let signal = Input::Signal(Signal {
            from: user,
            origin: None,
            kind: SignalKind::Presence { online: false },
        });
        let payload = serde_json::to_vec(&signal).unwrap_or_default();
        let shard = topology.input(topology.shard_of(signal.shard_key()));
        let publish = channel.basic_publish(
            ShortString::from(""),
            ShortString::from(shard),
            BasicPublishOptions::default(),
            &payload,
            topology::persistent_json(),
        );
        confirms.push(broker.bounded("basic.publish presence", publish).await?);
    }
    broker
        .bounded("publisher confirms", try_join_all(confirms))
        .await?;
    let _ = broker
        .bounded("channel.close", channel.close(200, "done".into()))
        .await;
    Ok(())
}

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
        let cutoff = confab_common::ids::now_ms() - i64::from(days) * 86_400_000;
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
    loop {
        let batch = db
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
                   SELECT COALESCE(sum(n), 0)::bigint FROM edge"#,
                [below.into(), RETENTION_BATCH.into()],
            ))
            .await?
            .and_then(|row| row.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0);
        removed += u64::try_from(batch).unwrap_or(0);
        if batch < RETENTION_BATCH {
            break;
        }
    }
    if removed > 0 {
        // Whatever is left below a moved `first_seq` (accepted a moment
        // after the cutoff but numbered before one accepted before it)
        // goes too: a log starts at `first_seq`, with no holes.
        let stragglers = db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                r#"DELETE FROM messages m USING conversations c
                   WHERE m.conv_id = c.id AND m.seq < c.first_seq"#,
            ))
            .await?;
        removed += stragglers.rows_affected();
    }
    metrics::counter!(metric::MESSAGES_EXPIRED).increment(removed);
    Ok(removed)
}
