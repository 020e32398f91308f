//! The user's send rate, as one connection applies it: a `send` over the
//! rate is held, and the connection does not read the socket until the rate
//! allows it (TCP then pushes back on a client that keeps writing), rather
//! than refused. Only a connection held back for a long time without a
//! break is closed.

use std::time::{Duration, Instant};

use crate::send::SendRequest;

/// What to do with a send.
#[derive(Debug)]
pub enum Admit {
    /// Within the rate: start it.
    Now(SendRequest),
    /// Held until [`Throttle::release_at`]; do not read meanwhile.
    Held,
    /// Held back for too long without a break: close the connection.
    TooLong,
}

/// One connection's held send, and how long it has been held back.
#[derive(Debug)]
pub struct Throttle {
    held: Option<(SendRequest, Instant)>,
    /// Since when sends have been held back without a break.
    since: Option<Instant>,
    close_after: Duration,
}

impl Throttle {
    /// A connection held back for `close_after` without a break is closed.
    pub fn new(close_after: Duration) -> Self {
        Self {
            held: None,
            since: None,
            close_after,
        }
    }

    /// When the held send may go, if one is held.
    pub fn release_at(&self) -> Option<Instant> {
        self.held.as_ref().map(|(_, at)| *at)
    }

    /// A new send, and how long the rate says it must wait (`None`: it may
    /// go now, which is a break in the throttling).
    pub fn offer(&mut self, request: SendRequest, wait: Option<Duration>) -> Admit {
        let Some(wait) = wait else {
            self.since = None;
            return Admit::Now(request);
        };
        let now = Instant::now();
        if now.duration_since(*self.since.get_or_insert(now)) > self.close_after {
            return Admit::TooLong;
        }
        self.held = Some((request, now + wait));
        Admit::Held
    }

    /// The held send, once its wait is over, given how long the rate says
    /// it must wait now (another connection of the user may have taken the
    /// turn). Going after a wait is no break: the client is still ahead.
    pub fn release(&mut self, wait: Option<Duration>) -> Option<SendRequest> {
        let (request, _) = self.held.take()?;
        match wait {
            None => Some(request),
            Some(wait) => {
                self.held = Some((request, Instant::now() + wait));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(id: &str) -> SendRequest {
        SendRequest {
            id: id.to_owned(),
            to: confab_common::wire::Target::User(confab_common::UserId(2)),
            body: "hi".to_owned(),
        }
    }

    #[test]
    fn within_the_rate_a_send_goes_at_once() {
        let mut throttle = Throttle::new(Duration::from_secs(60));
        assert!(matches!(throttle.offer(send("a"), None), Admit::Now(r) if r.id == "a"));
        assert!(throttle.release_at().is_none());
    }

    #[test]
    fn over_the_rate_a_send_is_held_until_the_rate_allows_it() {
        let mut throttle = Throttle::new(Duration::from_secs(60));
        let wait = Duration::from_millis(20);
        assert!(matches!(throttle.offer(send("a"), Some(wait)), Admit::Held));
        assert!(throttle.release_at().is_some());
        // Another connection took the turn: held again.
        assert!(throttle.release(Some(wait)).is_none());
        assert!(throttle.release_at().is_some());
        assert_eq!(throttle.release(None).map(|r| r.id), Some("a".to_owned()));
        assert!(throttle.release_at().is_none());
    }

    #[test]
    fn held_back_without_a_break_for_too_long_closes() {
        let mut throttle = Throttle::new(Duration::ZERO);
        let wait = Some(Duration::from_millis(1));
        assert!(matches!(throttle.offer(send("a"), wait), Admit::Held));
        throttle.release(None);
        std::thread::sleep(Duration::from_millis(2));
        // Still ahead (the last one went only after a wait): too long.
        assert!(matches!(throttle.offer(send("b"), wait), Admit::TooLong));
        // A send within the rate is a break: the count starts again.
        assert!(matches!(throttle.offer(send("c"), None), Admit::Now(_)));
        assert!(matches!(throttle.offer(send("d"), wait), Admit::Held));
    }
}
