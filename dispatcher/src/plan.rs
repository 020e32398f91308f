//! The delivery plan of a stored batch: which node queue gets which message
//! for which recipients. Pure — it reads nothing and writes nothing — so the
//! routing rules are unit-tested here:
//! - a recipient gets the message on every node that holds one of its
//!   connections, with its inbox position (`seq`);
//! - a recipient with no stored row (no such account) gets nothing;
//! - the sender's *other* connections get a live copy without a `seq`;
//! - one delivery per (message, node), nodes in a stable order.

use std::collections::{BTreeMap, HashMap};

use confab_common::envelope::{Delivery, Envelope, Recipient};
use confab_common::presence::ConnKey;
use confab_common::topology::Topology;
use confab_common::{MessageId, NodeId, UserId};

/// A delivery and the node queue it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub queue: String,
    pub delivery: Delivery,
}

/// What the plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The batch, in routing order.
    pub batch: &'a [Envelope],
    /// The users each envelope is stored for (same order as `batch`).
    pub recipients: &'a [Vec<UserId>],
    /// Where each (recipient, message) sits in the recipient's inbox.
    pub stored: &'a HashMap<(UserId, MessageId), i64>,
    /// The live connections of every user involved.
    pub located: &'a HashMap<UserId, Vec<ConnKey>>,
}

/// The deliveries for `facts`, message by message in batch order.
pub fn plan(facts: Facts<'_>, topology: &Topology) -> Vec<Outgoing> {
    let mut outgoing = Vec::new();
    for (envelope, recipients) in facts.batch.iter().zip(facts.recipients) {
        let m = &envelope.message;
        let mut per_node: BTreeMap<NodeId, Vec<Recipient>> = BTreeMap::new();
        for &user in recipients {
            // Not stored (no such account): nothing to deliver either.
            let Some(&seq) = facts.stored.get(&(user, m.msg_id)) else {
                continue;
            };
            for node in nodes_of(facts.located, user) {
                per_node.entry(node).or_default().push(Recipient {
                    user,
                    seq: Some(seq),
                });
            }
        }
        // The sender's other devices: a live copy, skipped by the origin
        // connection itself.
        let has_other_devices = facts
            .located
            .get(&m.from)
            .is_some_and(|conns| conns.iter().any(|c| *c != envelope.origin));
        if has_other_devices {
            for node in nodes_of(facts.located, m.from) {
                per_node.entry(node).or_default().push(Recipient {
                    user: m.from,
                    seq: None,
                });
            }
        }
        outgoing.extend(per_node.into_iter().map(|(node, recipients)| Outgoing {
            queue: topology.node_queue(node),
            delivery: Delivery {
                message: m.clone(),
                recipients,
                origin: envelope.origin,
            },
        }));
    }
    outgoing
}

/// The nodes `user` is connected to, each once, in order.
fn nodes_of(located: &HashMap<UserId, Vec<ConnKey>>, user: UserId) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = located
        .get(&user)
        .map(|conns| conns.iter().map(|c| c.node).collect())
        .unwrap_or_default();
    nodes.sort_unstable_by_key(|n| n.0);
    nodes.dedup();
    nodes
}

#[cfg(test)]
mod tests {
    use confab_common::wire::{MessagePayload, Target};

    use super::*;

    fn conn(node: u16, conn: u64) -> ConnKey {
        ConnKey {
            node: NodeId(node),
            incarnation: 1,
            conn,
        }
    }

    fn envelope(msg_id: i64, from: i64, to: Target, origin: ConnKey) -> Envelope {
        Envelope {
            message: MessagePayload {
                msg_id: MessageId(msg_id),
                from: UserId(from),
                to,
                body: "hi".into(),
                ts: 1,
            },
            origin,
        }
    }

    /// (queue, msg_id, [(recipient, seq)]) of each delivery.
    type Summary = (String, i64, Vec<(i64, Option<i64>)>);

    fn summary(outgoing: &[Outgoing]) -> Vec<Summary> {
        outgoing
            .iter()
            .map(|o| {
                let recipients = o.delivery.recipients.iter().map(|r| (r.user.0, r.seq));
                (
                    o.queue.clone(),
                    o.delivery.message.msg_id.0,
                    recipients.collect(),
                )
            })
            .collect()
    }

    #[test]
    fn each_node_of_a_recipient_gets_the_message_once_with_its_seq() {
        let topology = Topology::new("t.");
        let (alice, bob, carol) = (UserId(1), UserId(2), UserId(3));
        let group = Target::Group(confab_common::GroupId(9));
        let batch = [envelope(100, 1, group, conn(1, 1))];
        let recipients = [vec![bob, carol]];
        let stored = HashMap::from([((bob, MessageId(100)), 7), ((carol, MessageId(100)), 3)]);
        // Bob has two devices on node 2 and one on node 1; Carol is away;
        // Alice's only connection is the one she sent from.
        let located = HashMap::from([
            (bob, vec![conn(2, 5), conn(1, 4), conn(2, 6)]),
            (alice, vec![conn(1, 1)]),
        ]);
        let facts = Facts {
            batch: &batch,
            recipients: &recipients,
            stored: &stored,
            located: &located,
        };
        assert_eq!(
            summary(&plan(facts, &topology)),
            vec![
                ("t.node.1".into(), 100, vec![(2, Some(7))]),
                ("t.node.2".into(), 100, vec![(2, Some(7))]),
            ]
        );
    }

    #[test]
    fn the_senders_other_devices_get_an_unstored_copy() {
        let topology = Topology::new("t.");
        let (alice, bob) = (UserId(1), UserId(2));
        let batch = [envelope(100, 1, Target::User(bob), conn(1, 1))];
        let recipients = [vec![bob]];
        let stored = HashMap::from([((bob, MessageId(100)), 4)]);
        let located = HashMap::from([(alice, vec![conn(1, 1), conn(3, 2)])]);
        let facts = Facts {
            batch: &batch,
            recipients: &recipients,
            stored: &stored,
            located: &located,
        };
        let outgoing = plan(facts, &topology);
        // Bob is offline (his copy waits in the inbox); Alice's phone on
        // node 3 and her sending connection's node 1 both get a copy (the
        // node skips the origin connection itself).
        assert_eq!(
            summary(&outgoing),
            vec![
                ("t.node.1".into(), 100, vec![(1, None)]),
                ("t.node.3".into(), 100, vec![(1, None)]),
            ]
        );
        assert!(outgoing.iter().all(|o| o.delivery.origin == conn(1, 1)));
    }

    #[test]
    fn an_unstored_recipient_gets_nothing() {
        let topology = Topology::new("t.");
        let ghost = UserId(404);
        let batch = [envelope(100, 1, Target::User(ghost), conn(1, 1))];
        let recipients = [vec![ghost]];
        let located = HashMap::from([(ghost, vec![conn(2, 1)])]);
        let facts = Facts {
            batch: &batch,
            recipients: &recipients,
            stored: &HashMap::new(),
            located: &located,
        };
        assert!(plan(facts, &topology).is_empty());
    }
}
