//! A connection's `read` and `typing` frames in flight: each is stored or
//! throttled and published off the loop (`crate::send::signal`); the loop
//! only writes the refusals. At most [`MAX_IN_FLIGHT`] at a time, and
//! `typing` is dropped here already when this connection passed one on for
//! the conversation less than [`TYPING_INTERVAL`] ago.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use confab_common::presence::ConnKey;
use confab_common::wire::{ErrorCode, Target};
use confab_common::{Seq, UserId};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::send::authorize::Denied;
use crate::send::signal::{Signalled, Signalling, TYPING_INTERVAL};

/// Most `read`/`typing` frames being stored or published per connection.
pub const MAX_IN_FLIGHT: usize = 16;

const TOO_MANY: Denied = Denied {
    code: ErrorCode::RateLimited,
    message: "too many read and typing frames at once; slow down",
};

/// The signals of one connection of `user`.
pub struct SignalsInFlight {
    signals: Arc<dyn Signalling>,
    user: UserId,
    origin: ConnKey,
    pending: FuturesUnordered<Signalled>,
    /// When this connection last passed on `typing`, per conversation.
    typed: HashMap<Target, Instant>,
}

impl std::fmt::Debug for SignalsInFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalsInFlight")
            .field("user", &self.user)
            .field("in_flight", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl SignalsInFlight {
    pub fn new(signals: Arc<dyn Signalling>, user: UserId, origin: ConnKey) -> Self {
        Self {
            signals,
            user,
            origin,
            pending: FuturesUnordered::new(),
            typed: HashMap::new(),
        }
    }

    /// `read` of `conv` up to `seq`; refused at once if too many are in flight.
    pub fn read(&mut self, conv: Target, seq: Seq) -> Result<(), Denied> {
        let read = self.signals.clone().read(self.user, self.origin, conv, seq);
        self.take(read)
    }

    /// `typing` in `conv`, unless passed on for it lately.
    pub fn typing(&mut self, conv: Target) -> Result<(), Denied> {
        let now = Instant::now();
        if self
            .typed
            .get(&conv)
            .is_some_and(|last| now.duration_since(*last) < TYPING_INTERVAL)
        {
            return Ok(());
        }
        self.typed.insert(conv, now);
        let typing = self.signals.clone().typing(self.user, self.origin, conv);
        self.take(typing)
    }

    fn take(&mut self, signalled: Signalled) -> Result<(), Denied> {
        if self.pending.len() >= MAX_IN_FLIGHT {
            return Err(TOO_MANY);
        }
        self.pending.push(signalled);
        Ok(())
    }

    /// The next outcome; `None` (at once) while nothing is in flight.
    pub async fn next(&mut self) -> Option<Result<(), Denied>> {
        self.pending.next().await
    }
}
