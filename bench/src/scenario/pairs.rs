//! What `direct` (Confab) and `xmpp` (ejabberd) share, so that the two
//! measure the same thing: users in pairs, connection `i` sending to
//! connection `i ^ 1`; the options that shape that traffic; and how lost
//! messages are counted between partners.

use serde_json::{Map, Value, json};

use super::traffic::{Shape, Traffic, count_missing};

/// The traffic options of `direct` and `xmpp`.
#[derive(Debug, Clone, clap::Args)]
pub struct PairTraffic {
    /// User pairs; both users of a pair send to each other.
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,

    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Messages per second across all senders; 0: as fast as the windows
    /// allow.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Messages each sender may have sent and not yet seen delivered.
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,

    /// Messages all senders together may have sent and not yet seen
    /// delivered: one window shared by every sender, in addition to each
    /// one's `--in-flight` (which then rarely binds: 100 pairs × 8 is far
    /// above a window of 64). `direct` and `xmpp` apply it the same way.
    #[arg(long)]
    pub window: Option<usize>,

    /// Length of each message body, in characters.
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,

    /// Most seconds to wait after sending for the last deliveries.
    #[arg(long, default_value_t = 15.0)]
    pub drain: f64,
}

impl PairTraffic {
    /// Users (and connections): two per pair.
    pub fn users(&self) -> anyhow::Result<usize> {
        anyhow::ensure!(self.pairs > 0, "--pairs must be at least 1");
        Ok(self.pairs * 2)
    }

    /// Each sender's share of `--rate`; `None`: a closed loop.
    pub fn rate_per_sender(&self) -> Option<f64> {
        (self.rate > 0.0).then(|| self.rate / (self.pairs * 2) as f64)
    }

    /// How the traffic driver runs it.
    pub fn shape(&self) -> Shape {
        Shape {
            senders: self.pairs * 2,
            in_flight: self.in_flight,
            window: self.window,
            duration: self.duration,
            drain: self.drain,
        }
    }

    /// The options as recorded in a run's JSON `params`.
    pub fn params(&self) -> Map<String, Value> {
        let value = json!({
            "pairs": self.pairs, "duration": self.duration, "rate": self.rate,
            "in_flight": self.in_flight, "window": self.window,
            "body_bytes": self.body_bytes,
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// Messages confirmed to a partner who never received them (over XMPP,
/// which confirms nothing: written and never received), when connection
/// `i` (sender index `i`) sends to connection `i ^ 1`.
pub fn lost_between_partners(traffic: &Traffic) -> u64 {
    let confirmed = traffic.confirmed_by_sender();
    let mut lost = 0;
    for outcome in &traffic.outcomes {
        let Some(sender) = outcome.sender else {
            continue;
        };
        let Some(partner) = traffic.outcomes.get(sender ^ 1) else {
            continue;
        };
        let sent = confirmed.get(&sender).copied().unwrap_or_default();
        lost += count_missing(sent, &partner.received);
    }
    lost
}
