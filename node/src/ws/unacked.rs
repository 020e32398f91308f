//! The messages a connection wrote and its client has not acked yet, with
//! where each sits, so that the client's acks of them become positions on
//! the node (conversation, `seq`) and Postgres need not look each one up.

use std::collections::{HashMap, VecDeque};

use confab_common::{ConvId, MessageId, Seq};

use crate::delivery::acks::Resolved;

/// The last [`Unacked::CAPACITY`] messages written and not acked, oldest
/// first. Allocated on first use, so idle connections pay nothing for it.
#[derive(Debug, Default)]
pub struct Unacked {
    order: VecDeque<(MessageId, ConvId, Seq)>,
}

impl Unacked {
    /// Acks of messages written longer ago are resolved by Postgres.
    const CAPACITY: usize = 256;

    /// Notes that message `msg_id`, at `seq` of conversation `conv`, was
    /// written.
    pub fn written(&mut self, msg_id: MessageId, conv: ConvId, seq: Seq) {
        if self.order.len() == Self::CAPACITY {
            self.order.pop_front();
        }
        self.order.push_back((msg_id, conv, seq));
    }

    /// Where the messages `acked` sit, for those written lately: the highest
    /// `seq` acked in each conversation, and the ids not known here. Each is
    /// forgotten once acked.
    pub fn resolve(&mut self, acked: Vec<MessageId>) -> Resolved {
        let mut highest: HashMap<ConvId, Seq> = HashMap::new();
        let mut unknown = Vec::new();
        for id in acked {
            // Acks mostly come in the order written: found at the front.
            let found = self.order.iter().position(|&(m, _, _)| m == id);
            match found.and_then(|i| self.order.remove(i)) {
                Some((_, conv, seq)) => {
                    let at = highest.entry(conv).or_insert(seq);
                    *at = (*at).max(seq);
                }
                None => unknown.push(id),
            }
        }
        Resolved {
            positions: highest.into_iter().collect(),
            unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_of_written_messages_become_the_highest_seq_of_each_conversation() {
        let mut unacked = Unacked::default();
        unacked.written(MessageId(101), ConvId(1), Seq(1));
        unacked.written(MessageId(102), ConvId(1), Seq(2));
        unacked.written(MessageId(201), ConvId(2), Seq(1));
        // Out of order, across conversations, and one never written here.
        let ids = [102, 101, 201, 999].map(MessageId).to_vec();
        let mut resolved = unacked.resolve(ids);
        resolved.positions.sort_unstable();
        assert_eq!(
            resolved.positions,
            [(ConvId(1), Seq(2)), (ConvId(2), Seq(1))]
        );
        assert_eq!(resolved.unknown, [MessageId(999)]);
        // Acked once: a second ack of the same id is left to Postgres
        // (where it changes nothing).
        assert_eq!(
            unacked.resolve(vec![MessageId(102)]).unknown,
            [MessageId(102)]
        );
    }

    #[test]
    fn only_the_latest_are_kept() {
        let mut unacked = Unacked::default();
        for seq in 1..=300 {
            unacked.written(MessageId(seq), ConvId(1), Seq(seq));
        }
        let resolved = unacked.resolve(vec![MessageId(1), MessageId(300)]);
        assert_eq!(resolved.positions, [(ConvId(1), Seq(300))]);
        assert_eq!(resolved.unknown, [MessageId(1)]);
    }
}
