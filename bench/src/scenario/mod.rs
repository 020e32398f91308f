//! The scenarios, and what several of them share: the message body that
//! carries the send time, and connecting many users at once. All but
//! `xmpp` (the peer, ejabberd) drive Confab.

pub mod broker;
pub mod connections;
pub mod direct;
pub mod group;
pub mod offline;
pub mod pairs;
pub mod traffic;
pub mod xmpp;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};

use crate::client::rest::User;
use crate::client::ws::{Endpoint, Ws, traffic_buffers};

/// WebSocket upgrades in flight while connecting users.
const CONNECT_CONCURRENCY: usize = 32;

/// A message body: `{sender}.{seq}.{sent_nanos}.` padded with `x` to the
/// requested length. The receiver reads the sender, the sequence number and
/// the send time (on the run's [`crate::Clock`]) back from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body {
    pub sender: usize,
    pub seq: u64,
    pub sent: u64,
}

impl Body {
    /// The body text, at least `len` characters (the contract allows 1 to
    /// 4,000; the bench caps the padding there).
    pub fn encode(&self, len: usize) -> String {
        let mut text = format!("{}.{}.{}.", self.sender, self.seq, self.sent);
        let len = len.min(4000);
        if text.len() < len {
            text.extend(std::iter::repeat_n('x', len - text.len()));
        }
        text
    }

    /// Reads a body written by [`Body::encode`]; `None` for anything else
    /// (a message that is not this run's).
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, '.');
        Some(Self {
            sender: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            sent: parts.next()?.parse().ok()?,
        })
    }
}

/// Opens one WebSocket per user, user `i` on endpoint `i % endpoints`, a few
/// at a time; in the users' order.
pub async fn connect_users(
    users: &[&User],
    endpoints: &[Endpoint],
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Ws>> {
    futures_util::stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let endpoint = &endpoints[i % endpoints.len()];
            async move {
                let ws = endpoint
                    .connect(&user.token, None, traffic_buffers())
                    .await
                    .with_context(|| format!("connecting {}", user.username));
                progress.inc(1);
                ws
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// A username prefix unique to this run: `b{run_id}{tag}`.
pub fn user_prefix(ctx: &crate::Ctx, tag: &str) -> String {
    format!("b{}{tag}", ctx.run_id)
}

#[cfg(test)]
mod tests {
    use super::Body;

    #[test]
    fn bodies_round_trip() {
        let body = Body {
            sender: 3,
            seq: 41,
            sent: 123_456_789,
        };
        let text = body.encode(64);
        assert_eq!(text.len(), 64);
        assert_eq!(Body::decode(&text), Some(body));
        assert_eq!(Body::decode(&body.encode(1)), Some(body));
        assert_eq!(Body::decode("hello"), None);
    }
}
