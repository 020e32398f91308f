//! Client acks, written as device positions in batches: every ack that
//! arrived (from any connection) within a short window, folded into one
//! position per device and conversation, in one statement (and a second for
//! ids the connection's writer could not place, which Postgres resolves).
//! An ack is idempotent (a position only moves forward), so a batch that
//! fails is simply tried again; acks lost in a crash only mean the messages
//! come again on the device's next connect (and clients drop repeats by
//! `msg_id`).

use std::collections::HashMap;
use std::time::Duration;

use confab_common::retry::Backoff;
use confab_common::{ConvId, DeviceName, MessageId, Seq, UserId, metric};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::mpsc;

use confab_common::log::Positions;
use confab_common::log::devices::{self, Ack, DevicePosition};

/// How long acks gather before they are written: long enough that a
/// device's acks of a busy conversation fold into one position (a group of
/// 1,000 at 130 messages/s made ~130,000 acks/s, most of Postgres's work),
/// short enough that a crash loses little (those messages only come again).
const WINDOW: Duration = Duration::from_millis(50);
/// The most acks written in one statement.
const MAX_BATCH: usize = 4096;
/// Ack frames queued for the writer; connections never wait for room (see
/// [`AckSender::offer`]), so this is sized for bursts, not for outages.
const QUEUE: usize = 16_384;
/// Acks kept while Postgres is down; beyond this the oldest are dropped
/// (their messages will simply be delivered again).
const MAX_PENDING: usize = 100_000;

/// Where connections send acks.
#[derive(Debug, Clone)]
pub struct AckSender(mpsc::Sender<Acked>);

/// A client's ack, as far as its connection's writer could tell where the
/// acked messages sit (`Writer::resolve`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The highest `seq` acked in each conversation.
    pub positions: Positions,
    /// Ids the writer does not know (written too long ago, or never).
    pub unknown: Vec<MessageId>,
}

/// One ack frame of a device.
type Acked = (UserId, DeviceName, Resolved);

impl AckSender {
    /// Queues `device`'s ack (`acked` messages, resolved by its writer)
    /// without waiting: a connection never stalls on Postgres. If the writer is
    /// that far behind (Postgres down for long), the ack is dropped and
    /// counted; its messages simply come again on the next connect, and
    /// clients drop repeats by `msg_id`.
    pub fn offer(&self, user: UserId, device: &DeviceName, acked: usize, resolved: Resolved) {
        metrics::counter!(metric::ACKS).increment(acked as u64);
        if self.0.try_send((user, device.clone(), resolved)).is_err() {
            metrics::counter!(metric::ACKS_DROPPED).increment(acked as u64);
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

/// Acks gathered for one write.
#[derive(Debug, Default)]
struct Pending {
    /// The highest `seq` acked per device and conversation.
    positions: HashMap<(UserId, DeviceName, ConvId), Seq>,
    /// Acks of messages the writers could not place.
    unknown: Vec<Ack>,
}

impl Pending {
    fn gather(&mut self, (user, device, resolved): Acked) {
        for (conv, seq) in resolved.positions {
            let at = self
                .positions
                .entry((user, device.clone(), conv))
                .or_insert(seq);
            *at = (*at).max(seq);
        }
        self.unknown
            .extend(resolved.unknown.into_iter().map(|msg_id| Ack {
                user,
                device: device.clone(),
                msg_id,
            }));
    }

    fn len(&self) -> usize {
        self.positions.len() + self.unknown.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes up to [`MAX_BATCH`] of each kind; what was written is gone.
    async fn write(&mut self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let positions: Vec<DevicePosition> = self
            .positions
            .iter()
            .take(MAX_BATCH)
            .map(|((user, device, conv), seq)| DevicePosition {
                user: *user,
                device: device.clone(),
                conv: *conv,
                seq: *seq,
            })
            .collect();
        devices::advance_to(db, &positions).await?;
        for p in positions {
            self.positions.remove(&(p.user, p.device, p.conv));
        }
        let take = self.unknown.len().min(MAX_BATCH);
        devices::advance(db, &self.unknown[..take]).await?;
        self.unknown.drain(..take);
        Ok(())
    }

    /// Drops the oldest unknown ids, then arbitrary positions, past `max`.
    fn bound(&mut self, max: usize) {
        let excess = self.unknown.len().saturating_sub(max);
        self.unknown.drain(..excess);
        let mut excess = self.positions.len().saturating_sub(max);
        self.positions.retain(|_, _| {
            let keep = excess == 0;
            excess = excess.saturating_sub(1);
            keep
        });
    }
}

async fn write_loop(db: DatabaseConnection, mut rx: mpsc::Receiver<Acked>) {
    let mut pending = Pending::default();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match rx.recv().await {
                Some(acked) => pending.gather(acked),
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
                    Some(acked) => pending.gather(acked),
                    None => open = false,
                },
            }
        }
        match pending.write(&db).await {
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::warn!(error = %e, pending = pending.len(), "cannot write acks; retrying");
                pending.bound(MAX_PENDING);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(user: i64, device: &str, positions: &[(i64, i64)], unknown: &[i64]) -> Acked {
        let resolved = Resolved {
            positions: positions
                .iter()
                .map(|&(c, s)| (ConvId(c), Seq(s)))
                .collect(),
            unknown: unknown.iter().copied().map(MessageId).collect(),
        };
        (UserId(user), DeviceName::stored(device), resolved)
    }

    #[test]
    fn a_windows_acks_fold_into_the_highest_seq_per_device_and_conversation() {
        let mut pending = Pending::default();
        pending.gather(acked(1, "phone", &[(7, 3), (8, 1)], &[]));
        pending.gather(acked(1, "phone", &[(7, 5)], &[42]));
        pending.gather(acked(1, "phone", &[(7, 4)], &[]));
        pending.gather(acked(1, "laptop", &[(7, 2)], &[]));
        let mut positions: Vec<(&str, i64, i64)> = pending
            .positions
            .iter()
            .map(|((_, device, conv), seq)| (device.as_str(), conv.0, seq.0))
            .collect();
        positions.sort_unstable();
        assert_eq!(
            positions,
            [("laptop", 7, 2), ("phone", 7, 5), ("phone", 8, 1)]
        );
        assert_eq!(pending.unknown.len(), 1);
        assert_eq!(pending.len(), 4);

        pending.bound(2);
        assert_eq!((pending.positions.len(), pending.unknown.len()), (2, 1));
        pending.bound(0);
        assert!(pending.is_empty());
    }
}
