//! The in-flight bounds of the traffic: a window per sender (`--in-flight`)
//! and, if asked for, one window shared by every sender (`--window`). A
//! send takes a slot of both; the witness gives both back when the message
//! arrives (the sender does, when the server refuses it). So with `--window
//! 64` at most 64 messages are on their way across the whole run, however
//! many senders there are, and the same holds for every scenario that
//! drives its traffic through [`super::drive_with`].

use tokio::sync::Semaphore;

/// Every sender's window and the shared one.
#[derive(Debug)]
pub struct Windows {
    per_sender: Vec<Semaphore>,
    /// `None`: only the per-sender windows bound the traffic.
    global: Option<Semaphore>,
}

impl Windows {
    /// `senders` windows of `in_flight` slots each, and a shared window of
    /// `global` slots if given (each at least 1).
    pub fn new(senders: usize, in_flight: usize, global: Option<usize>) -> Self {
        Self {
            per_sender: (0..senders)
                .map(|_| Semaphore::new(in_flight.max(1)))
                .collect(),
            global: global.map(|n| Semaphore::new(n.max(1))),
        }
    }

    /// Waits for a slot in `sender`'s window, then for one in the shared
    /// window. Cancel-safe: dropped while it waits for the shared slot, it
    /// gives the sender's slot back. The slots taken stay taken until
    /// [`Windows::release`].
    pub async fn acquire(&self, sender: usize) {
        let Some(own) = self.per_sender.get(sender) else {
            return;
        };
        // The semaphores are never closed: `acquire` cannot fail.
        let Ok(own) = own.acquire().await else {
            return;
        };
        if let Some(global) = &self.global
            && let Ok(slot) = global.acquire().await
        {
            slot.forget();
        }
        own.forget();
    }

    /// Gives back the slots one message of `sender` held.
    pub fn release(&self, sender: usize) {
        if let Some(own) = self.per_sender.get(sender) {
            own.add_permits(1);
        }
        if let Some(global) = &self.global {
            global.add_permits(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Windows;

    /// Whether `sender` gets slots within a moment.
    async fn gets_slot(windows: &Windows, sender: usize) -> bool {
        tokio::time::timeout(Duration::from_millis(50), windows.acquire(sender))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_shared_window_bounds_all_senders_together() {
        let windows = Windows::new(4, 8, Some(3));
        for sender in 0..3 {
            assert!(gets_slot(&windows, sender).await);
        }
        // Sender 3's own window is empty, but the shared one is full.
        assert!(!gets_slot(&windows, 3).await);
        windows.release(0);
        assert!(gets_slot(&windows, 3).await);
    }

    #[tokio::test]
    async fn a_wait_given_up_returns_the_senders_slot() {
        let windows = Windows::new(2, 1, Some(1));
        assert!(gets_slot(&windows, 0).await);
        // Sender 1 takes its own slot, then waits for the shared one in vain.
        assert!(!gets_slot(&windows, 1).await);
        windows.release(0);
        // Its own slot came back when the wait was dropped.
        assert!(gets_slot(&windows, 1).await);
    }

    #[tokio::test]
    async fn without_a_shared_window_each_sender_has_its_own() {
        let windows = Windows::new(2, 2, None);
        assert!(gets_slot(&windows, 0).await);
        assert!(gets_slot(&windows, 0).await);
        assert!(!gets_slot(&windows, 0).await);
        assert!(gets_slot(&windows, 1).await);
    }
}
