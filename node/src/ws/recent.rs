//! The message ids a connection sent lately, so that its own messages are
//! never written back to it, even when a catch-up reads them from the log.

use confab_common::MessageId;

/// The last [`RecentIds::CAPACITY`] message ids a connection sent.
/// Allocated on first use, so idle connections pay nothing for it.
#[derive(Debug, Default)]
pub struct RecentIds {
    order: std::collections::VecDeque<MessageId>,
    set: std::collections::HashSet<MessageId>,
}

impl RecentIds {
    const CAPACITY: usize = 4096;

    /// Whether `id` is here.
    pub fn contains(&self, id: MessageId) -> bool {
        self.set.contains(&id)
    }

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
