//! Client acks, written as device positions in batches: one statement for
//! every ack that arrived (from any connection) within a short window,
//! instead of one per frame. An ack is idempotent (a position only moves
//! forward), so a batch that fails is simply tried again; acks lost in a
//! crash only mean the messages come again on the device's next connect
//! (and clients drop repeats by `msg_id`).

use std::sync::Arc;
use std::time::Duration;

use confab_common::retry::Backoff;
use confab_common::{MessageId, UserId, metric};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::store::log::{self, Ack};

/// How long acks gather before they are written.
const WINDOW: Duration = Duration::from_millis(10);
/// The most acks written in one statement.
const MAX_BATCH: usize = 4096;
/// Ack frames queued for the writer; sessions never wait for room (see
/// [`AckSender::offer`]), so this is sized for bursts, not for outages.
const QUEUE: usize = 16_384;
/// Acks kept while Postgres is down; beyond this the oldest are dropped
/// (their messages will simply be delivered again).
const MAX_PENDING: usize = 100_000;

/// Where sessions send acks.
#[derive(Debug, Clone)]
pub struct AckSender(mpsc::Sender<Acked>);

/// One ack frame (or the messages a connection sent, which it has).
type Acked = (UserId, Arc<str>, Vec<MessageId>);

impl AckSender {
    /// Queues `device`'s ack of `msg_ids` without waiting: a session never
    /// stalls on Postgres. If the writer is that far behind (Postgres down
    /// for long), the ack is dropped and counted; its messages simply come
    /// again on the next connect, and clients drop repeats by `msg_id`.
    pub fn offer(&self, user: UserId, device: &Arc<str>, msg_ids: Vec<MessageId>) {
        metrics::counter!(metric::ACKS).increment(msg_ids.len() as u64);
        if let Err(e) = self.0.try_send((user, device.clone(), msg_ids)) {
            let (_, _, dropped) = e.into_inner();
            metrics::counter!(metric::ACKS_DROPPED).increment(dropped.len() as u64);
            tracing::warn!(
                user_id = user.0,
                "ack writer behind or stopped; ack dropped"
            );
        }
    }
}

/// A channel for acks and the writer task's future. The writer ends when
/// every [`AckSender`] is dropped, after writing what it holds.
pub fn writer(db: DatabaseConnection) -> (AckSender, impl Future<Output = ()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (AckSender(tx), write_loop(db, rx))
}

fn gather(pending: &mut Vec<Ack>, (user, device, ids): Acked) {
    pending.extend(ids.into_iter().map(|msg_id| Ack {
        user,
        device: device.clone(),
        msg_id,
    }));
}

async fn write_loop(db: DatabaseConnection, mut rx: mpsc::Receiver<Acked>) {
    let mut pending: Vec<Ack> = Vec::new();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match rx.recv().await {
                Some(acked) => gather(&mut pending, acked),
                None => break,
            }
        }
        // Gather for a moment so that one statement serves many acks.
        let deadline = tokio::time::sleep(WINDOW);
        tokio::pin!(deadline);
        while open && pending.len() < MAX_BATCH {
            tokio::select! {
                () = &mut deadline => break,
                item = rx.recv() => match item {
                    Some(acked) => gather(&mut pending, acked),
                    None => open = false,
                },
            }
        }
        let take = pending.len().min(MAX_BATCH);
        match log::advance(&db, &pending[..take]).await {
            Ok(_) => {
                pending.drain(..take);
                backoff.reset();
            }
            Err(e) => {
                tracing::warn!(error = %e, pending = pending.len(), "cannot write acks; retrying");
                if pending.len() > MAX_PENDING {
                    let excess = pending.len() - MAX_PENDING;
                    pending.drain(..excess);
                }
                if !open {
                    // Shutting down with Postgres away: what is left will be
                    // delivered again on the next connect.
                    tracing::warn!(dropped = pending.len(), "stopping with unwritten acks");
                    break;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}
