//! The message ids a connection wrote lately, so that a message that reaches
//! it twice (by the replay and live, or redelivered after a failover) is
//! written once.

use confab_common::MessageId;

/// The last [`RecentIds::CAPACITY`] message ids written to a connection.
/// Allocated on first use, so idle connections pay nothing for it.
#[derive(Debug, Default)]
pub struct RecentIds {
    order: std::collections::VecDeque<MessageId>,
    set: std::collections::HashSet<MessageId>,
}

impl RecentIds {
    const CAPACITY: usize = 4096;

    /// Records `id`; false if it was already there.
    pub fn insert(&mut self, id: MessageId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}
