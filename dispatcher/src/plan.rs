//! The delivery plan of a logged batch: which node queue gets which message
//! or notice for which users, as one [`Bundle`] per node. Pure — it reads
//! nothing and writes nothing — so the routing rules are unit-tested here:
//! - a message goes once to every node that holds a connection of one of
//!   its audience (the recipients and the sender, whose other devices get
//!   it too and whose sending connection learns its `seq`), with its `seq`;
//! - a message that was not logged (no conversation) goes nowhere;
//! - a notice goes once to every node that holds one of its users, and
//!   names the connection it must skip;
//! - each message's frame is encoded once, whatever the number of nodes;
//! - nodes come in a stable order; in a bundle, messages (in batch order)
//!   come before notices.

use std::collections::{BTreeMap, HashMap};

use confab_common::envelope::{Bundle, Delivery, Envelope, Notice};
use confab_common::log::append::Appended;
use confab_common::presence::ConnKey;
use confab_common::topology::Topology;
use confab_common::{MessageId, NodeId, UserId};

/// A bundle and the node queue it goes to.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub queue: String,
    pub bundle: Bundle,
}

/// A batch as routing left it, which the plan is made from: appended,
/// addressed, and its users located.
#[derive(Debug, Clone, Copy)]
pub struct Routed<'a> {
    /// The batch's messages, in routing order.
    pub batch: &'a [Envelope],
    /// Who sees each message (same order as `batch`), sender included.
    pub audiences: &'a [Vec<UserId>],
    /// Where each logged message sits.
    pub logged: &'a HashMap<MessageId, Appended>,
    /// The batch's notices.
    pub notices: &'a [Notice],
    /// The live connections of every user involved.
    pub located: &'a HashMap<UserId, Vec<ConnKey>>,
}

/// The bundles of `routed`, one per node, in node order.
pub fn plan(routed: Routed<'_>, topology: &Topology) -> Vec<Outgoing> {
    let mut bundles: BTreeMap<NodeId, Bundle> = BTreeMap::new();
    for (envelope, audience) in routed.batch.iter().zip(routed.audiences) {
        let m = &envelope.message;
        // Not logged (no conversation): nothing to deliver either.
        let Some(at) = routed.logged.get(&m.msg_id) else {
            continue;
        };
        let nodes = per_node(routed.located, audience);
        if nodes.is_empty() {
            continue;
        }
        let mut message = m.clone();
        message.seq = Some(at.seq);
        let frame = Delivery::frame_of(&message);
        for (node, recipients) in nodes {
            bundles.entry(node).or_default().deliveries.push(Delivery {
                frame: frame.clone(),
                msg_id: m.msg_id,
                conv: at.conv,
                seq: at.seq,
                ts: m.ts,
                users: recipients,
                origin: envelope.origin,
                read_us: envelope.read_us,
            });
        }
    }
    for notice in routed.notices {
        for (node, recipients) in per_node(routed.located, &notice.users) {
            bundles.entry(node).or_default().notices.push(Notice {
                frame: notice.frame.clone(),
                users: recipients,
                except: notice.except,
            });
        }
    }
    bundles
        .into_iter()
        .map(|(node, bundle)| Outgoing {
            queue: topology.node_queue(node),
            bundle,
        })
        .collect()
}

/// The users of `audience` connected to each node, each node once.
fn per_node(
    located: &HashMap<UserId, Vec<ConnKey>>,
    audience: &[UserId],
) -> BTreeMap<NodeId, Vec<UserId>> {
    let mut per_node: BTreeMap<NodeId, Vec<UserId>> = BTreeMap::new();
    for &user in audience {
        let Some(conns) = located.get(&user) else {
            continue;
        };
        for conn in conns {
            let users = per_node.entry(conn.node).or_default();
            if !users.contains(&user) {
                users.push(user);
            }
        }
    }
    per_node
}

#[cfg(test)]
mod tests {
    use confab_common::wire::{MessagePayload, Target};
    use confab_common::{ConvId, Seq};

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
                seq: None,
            },
            origin,
            device: None,
            read_us: None,
        }
    }

    /// (queue, what, users) of each item of each bundle: a message's id
    /// and seq, or a notice's frame.
    fn summary(outgoing: &[Outgoing]) -> Vec<(String, String, Vec<i64>)> {
        let mut items = Vec::new();
        for o in outgoing {
            for d in &o.bundle.deliveries {
                let frame: serde_json::Value = serde_json::from_str(d.frame.get()).unwrap();
                assert_eq!(frame["seq"], d.seq.0, "the frame carries the seq");
                assert_eq!(frame["msg_id"], d.msg_id.to_string());
                let users = d.users.iter().map(|u| u.0).collect();
                items.push((o.queue.clone(), format!("{}@{}", d.msg_id, d.seq), users));
            }
            for n in &o.bundle.notices {
                let users = n.users.iter().map(|u| u.0).collect();
                items.push((o.queue.clone(), n.frame.clone(), users));
            }
        }
        items
    }

    #[test]
    fn each_node_of_the_audience_gets_the_message_once_with_its_seq() {
        let topology = Topology::new("t.", 1);
        let (alice, bob, carol) = (UserId(1), UserId(2), UserId(3));
        let group = Target::Group(confab_common::GroupId(9));
        let batch = [envelope(100, 1, group, conn(1, 1))];
        let audiences = [vec![alice, bob, carol]];
        let logged = HashMap::from([(
            MessageId(100),
            Appended {
                conv: ConvId(4),
                seq: Seq(7),
            },
        )]);
        // Bob has two devices on node 2 and one on node 1; Carol is away;
        // Alice's only connection is the one she sent from.
        let located = HashMap::from([
            (bob, vec![conn(2, 5), conn(1, 4), conn(2, 6)]),
            (alice, vec![conn(1, 1)]),
        ]);
        let routed = Routed {
            batch: &batch,
            audiences: &audiences,
            logged: &logged,
            notices: &[],
            located: &located,
        };
        let outgoing = plan(routed, &topology);
        assert_eq!(
            summary(&outgoing),
            vec![
                ("t.node.1".into(), "100@7".into(), vec![1, 2]),
                ("t.node.2".into(), "100@7".into(), vec![2]),
            ]
        );
        assert!(
            outgoing
                .iter()
                .flat_map(|o| &o.bundle.deliveries)
                .all(|d| d.conv == ConvId(4) && d.origin == conn(1, 1))
        );
    }

    #[test]
    fn an_unlogged_message_goes_nowhere_and_notices_follow_messages_in_a_nodes_bundle() {
        let topology = Topology::new("t.", 1);
        let (alice, bob) = (UserId(1), UserId(2));
        let batch = [
            envelope(100, 1, Target::User(bob), conn(1, 1)),
            envelope(101, 1, Target::User(bob), conn(1, 1)),
        ];
        let audiences = [vec![bob, alice], vec![bob, alice]];
        let logged = HashMap::from([(
            MessageId(101),
            Appended {
                conv: ConvId(4),
                seq: Seq(1),
            },
        )]);
        let notices = [Notice {
            frame: "typing".into(),
            users: vec![bob],
            except: Some(conn(1, 1)),
        }];
        let located = HashMap::from([(alice, vec![conn(1, 1)]), (bob, vec![conn(3, 2)])]);
        let routed = Routed {
            batch: &batch,
            audiences: &audiences,
            logged: &logged,
            notices: &notices,
            located: &located,
        };
        assert_eq!(
            summary(&plan(routed, &topology)),
            vec![
                ("t.node.1".into(), "101@1".into(), vec![1]),
                ("t.node.3".into(), "101@1".into(), vec![2]),
                ("t.node.3".into(), "typing".into(), vec![2]),
            ]
        );
        assert_eq!(plan(routed, &topology).len(), 2, "one bundle per node");
    }
}
