//! Client acks, written to the inbox in batches: one `DELETE` for every ack
//! that arrived (from any connection) within a short window, instead of one
//! per frame. An ack is idempotent, so a batch that fails is simply tried
//! again; acks lost in a crash only mean the messages come again on the
//! next connect (and clients drop repeats by `msg_id`).

use std::time::Duration;

use confab_common::{MessageId, UserId, inbox};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

/// How long acks gather before they are written.
const WINDOW: Duration = Duration::from_millis(10);
/// The most (user, message) pairs written in one statement.
const MAX_BATCH: usize = 4096;
/// Acks kept while Postgres is down; beyond this the oldest are dropped
/// (their messages will simply be delivered again).
const MAX_PENDING: usize = 100_000;

/// Where sessions send acks.
#[derive(Debug, Clone)]
pub struct AckSender(mpsc::Sender<(UserId, Vec<MessageId>)>);

impl AckSender {
    /// Queues `user`'s ack of `msg_ids`; waits if the writer is behind.
    pub async fn send(&self, user: UserId, msg_ids: Vec<MessageId>) {
        if self.0.send((user, msg_ids)).await.is_err() {
            tracing::warn!(user_id = user.0, "ack writer stopped; ack dropped");
        }
    }
}

/// A channel for acks and the writer task's future. The writer ends when
/// every [`AckSender`] is dropped, after writing what it holds.
pub fn writer(db: DatabaseConnection) -> (AckSender, impl Future<Output = ()>) {
    let (tx, rx) = mpsc::channel(1024);
    (AckSender(tx), write_loop(db, rx))
}

async fn write_loop(db: DatabaseConnection, mut rx: mpsc::Receiver<(UserId, Vec<MessageId>)>) {
    let mut pending: Vec<(UserId, MessageId)> = Vec::new();
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match rx.recv().await {
                Some((user, ids)) => pending.extend(ids.into_iter().map(|m| (user, m))),
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
                    Some((user, ids)) => pending.extend(ids.into_iter().map(|m| (user, m))),
                    None => open = false,
                },
            }
        }
        let take = pending.len().min(MAX_BATCH);
        match inbox::remove(&db, &pending[..take]).await {
            Ok(_) => {
                pending.drain(..take);
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
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
