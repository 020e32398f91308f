//! One routing step: a batch of envelopes in, the node deliveries out. The
//! batch is stored in the inbox (one transaction) *before* presence is read:
//! a recipient who connects after the read finds the message in its replay,
//! one who connected before it is in the presence we read.

use std::collections::{BTreeMap, HashMap, HashSet};

use confab_common::envelope::{Delivery, Envelope, Recipient};
use confab_common::inbox::{self, ToStore};
use confab_common::presence::Presence;
use confab_common::social::{SocialCache, SocialError};
use confab_common::topology::Topology;
use confab_common::wire::Target;
use confab_common::{NodeId, UserId};
use sea_orm::{DatabaseConnection, DbErr};

/// A failure worth retrying the whole batch for.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("postgres: {0}")]
    Db(#[from] DbErr),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Social(#[from] SocialError),
}

/// What the router needs.
#[derive(Debug, Clone)]
pub struct Router {
    pub db: DatabaseConnection,
    pub presence: Presence,
    pub social: SocialCache,
    pub topology: Topology,
}

/// A delivery and the node queue it goes to.
#[derive(Debug)]
pub struct Outgoing {
    pub queue: String,
    pub delivery: Delivery,
}

impl Router {
    /// Stores `batch` and says what to publish to which node.
    pub async fn route(&self, batch: &[Envelope]) -> Result<Vec<Outgoing>, RouteError> {
        // Who each message is stored for.
        let mut recipients: Vec<Vec<UserId>> = Vec::with_capacity(batch.len());
        for envelope in batch {
            let m = &envelope.message;
            recipients.push(match m.to {
                Target::User(user) => vec![user],
                Target::Group(group) => match self.social.members(group).await? {
                    Some(members) => {
                        let mut members: Vec<UserId> = members.into_iter().filter(|&u| u != m.from).collect();
                        members.sort_unstable();
                        members
                    }
                    None => {
                        tracing::warn!(msg_id = %m.msg_id, group_id = %group, "group gone before routing; dropped");
                        Vec::new()
                    }
                },
            });
        }
        let to_store: Vec<ToStore<'_>> = batch
            .iter()
            .zip(&recipients)
            .map(|(envelope, recipients)| ToStore {
                message: &envelope.message,
                recipients,
            })
            .collect();
        let stored = inbox::store(&self.db, &to_store).await?;
        metrics::counter!("confab_inbox_stored_total").increment(stored.len() as u64);
        let seqs: HashMap<(i64, i64), i64> = stored
            .iter()
            .map(|s| ((s.recipient_id, s.msg_id), s.seq))
            .collect();

        // Where everyone involved is connected: recipients, and senders for
        // the copy their other devices get.
        let mut everyone: HashSet<UserId> = recipients.iter().flatten().copied().collect();
        everyone.extend(batch.iter().map(|e| e.message.from));
        let everyone: Vec<UserId> = everyone.into_iter().collect();
        let located = self.presence.locate(&everyone).await?;

        let mut outgoing = Vec::new();
        for (envelope, recipients) in batch.iter().zip(&recipients) {
            let m = &envelope.message;
            // Node → recipients on it, in a stable order.
            let mut per_node: BTreeMap<NodeId, Vec<Recipient>> = BTreeMap::new();
            let nodes_of = |user: UserId| -> Vec<NodeId> {
                let mut nodes: Vec<NodeId> = located
                    .get(&user)
                    .map(|conns| conns.iter().map(|c| c.node).collect())
                    .unwrap_or_default();
                nodes.sort_unstable_by_key(|n| n.0);
                nodes.dedup();
                nodes
            };
            for &user in recipients {
                // Not stored (no such account): nothing to deliver either.
                let Some(&seq) = seqs.get(&(user.0, m.msg_id.0)) else {
                    continue;
                };
                for node in nodes_of(user) {
                    per_node.entry(node).or_default().push(Recipient {
                        user,
                        seq: Some(seq),
                    });
                }
            }
            // The sender's other devices: a live copy, skipped by the origin
            // connection itself.
            let has_other_devices = located
                .get(&m.from)
                .is_some_and(|conns| conns.iter().any(|c| *c != envelope.origin));
            if has_other_devices {
                for node in nodes_of(m.from) {
                    per_node.entry(node).or_default().push(Recipient {
                        user: m.from,
                        seq: None,
                    });
                }
            }
            for (node, recipients) in per_node {
                outgoing.push(Outgoing {
                    queue: self.topology.node_queue(node),
                    delivery: Delivery {
                        message: m.clone(),
                        recipients,
                        origin: envelope.origin,
                    },
                });
            }
        }
        Ok(outgoing)
    }
}
