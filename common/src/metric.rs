//! Every Prometheus series Confab exports, by name, in one place: the code
//! records through these constants, [`register_node`] and
//! [`register_dispatcher`] describe them and make the counters exist at zero
//! from the start (a scrape before any traffic already shows them), and the
//! fault harness and dashboards read the same names.

use crate::wire::ErrorCode;

// Node: connections and the send side.
/// Gauge: open WebSocket connections on this node.
pub const WS_CONNECTIONS: &str = "confab_ws_connections";
/// Counter: messages the broker confirmed (answered `sent`).
pub const MESSAGES_ACCEPTED: &str = "confab_messages_accepted_total";
/// Counter, label `reason` (an [`ErrorCode`]): sends answered with an error.
pub const SENDS_REFUSED: &str = "confab_sends_refused_total";
/// Histogram: publish to broker confirm, seconds.
pub const PUBLISH_CONFIRM_SECONDS: &str = "confab_publish_confirm_seconds";

// Node: the delivery side.
/// Counter: live `message` frames written to sockets.
pub const MESSAGES_DELIVERED: &str = "confab_messages_delivered_total";
/// Counter: stored messages written by replays and catch-ups.
pub const MESSAGES_REPLAYED: &str = "confab_messages_replayed_total";
/// Histogram: one connection's replay, seconds.
pub const REPLAY_SECONDS: &str = "confab_replay_seconds";
/// Histogram: node accepted the message to a recipient's socket, seconds.
pub const DELIVERY_LATENCY_SECONDS: &str = "confab_delivery_latency_seconds";
/// Counter: message ids acked by clients.
pub const ACKS: &str = "confab_acks_total";
/// Counter: acks dropped because the ack writer was behind (the messages
/// come again on the next connect).
pub const ACKS_DROPPED: &str = "confab_acks_dropped_total";
/// Counter: log-ins and sign-ups refused because too many waited for the
/// password hasher (503).
pub const PASSWORD_BUSY: &str = "confab_password_busy_total";
/// Counter: connections closed because they read too slowly.
pub const SLOW_CONSUMER_CLOSES: &str = "confab_slow_consumer_closes_total";
/// Counter: sends held back by the user's send rate (the socket was not
/// read meanwhile).
pub const SENDS_THROTTLED: &str = "confab_sends_throttled_total";
/// Counter: connections closed because their sends were held back too long.
pub const THROTTLED_CLOSES: &str = "confab_throttled_closes_total";
/// Counter: sessions revoked (log-out, password change, deleted account).
pub const SESSIONS_REVOKED: &str = "confab_sessions_revoked_total";

// Dispatcher.
/// Counter: envelopes routed and acked.
pub const DISPATCH_ENVELOPES: &str = "confab_dispatch_envelopes_total";
/// Counter: envelopes the broker handed over again.
pub const DISPATCH_REDELIVERIES: &str = "confab_dispatch_redeliveries_total";
/// Counter: batches tried again (Postgres or Redis down).
pub const DISPATCH_RETRIES: &str = "confab_dispatch_retries_total";
/// Counter: undecodable envelopes sent to `input.dead`.
pub const DISPATCH_POISON: &str = "confab_dispatch_poison_total";
/// Histogram: one batch from receipt to ack, seconds.
pub const DISPATCH_BATCH_SECONDS: &str = "confab_dispatch_batch_seconds";
/// Histogram: one batch's routing (append to the logs, presence, plan),
/// seconds; with the two below, the dispatcher's stages.
pub const DISPATCH_ROUTE_SECONDS: &str = "confab_dispatch_route_seconds";
/// Histogram: one batch's publishes until every confirm came, seconds.
pub const DISPATCH_CONFIRM_SECONDS: &str = "confab_dispatch_confirm_seconds";
/// Histogram: from a node accepting a message (its `ts`) to the dispatcher
/// having it in its log, seconds.
pub const DISPATCH_LOGGED_AFTER_SECONDS: &str = "confab_dispatch_logged_after_seconds";
/// Counter: messages removed by retention.
pub const MESSAGES_EXPIRED: &str = "confab_messages_expired_total";
/// Counter: messages appended to a conversation log.
pub const MESSAGES_LOGGED: &str = "confab_messages_logged_total";
/// Counter: deliveries published to node queues.
pub const DELIVERIES_PUBLISHED: &str = "confab_deliveries_published_total";
/// Counter: deliveries returned because their node queue was gone.
pub const DELIVERIES_RETURNED: &str = "confab_deliveries_returned_total";
/// Gauge: messages waiting in an `input` shard (label `shard`).
pub const INPUT_QUEUE_DEPTH: &str = "confab_input_queue_depth";

/// Histogram, label `stage` (a [`Stage`]): seconds from the node reading a
/// `send` frame to each stage of its message's trip, the message's
/// waterfall. Measured on each process's wall clock against the read time
/// the message carries (`read_us`), so across hosts it includes their clock
/// offset; on one host (the bench) it is exact. Finer buckets than the
/// other histograms (50 µs to 1 s): a stage's share is often well under a
/// millisecond.
pub const MESSAGE_STAGE_SECONDS: &str = "confab_message_stage_seconds";

/// The buckets of [`MESSAGE_STAGE_SECONDS`], seconds.
pub const STAGE_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_2, 0.000_3, 0.000_4, 0.000_5, 0.000_6, 0.000_8, 0.001, 0.001_25,
    0.001_5, 0.001_75, 0.002, 0.002_5, 0.003, 0.003_5, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015,
    0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0,
];

/// The stages of a message's trip, in path order; each is recorded once it
/// is reached, as the time since the node read the `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Node: the client id claimed and the sender authorized (one Redis
    /// round trip; Postgres too on a social-cache miss). Repeats of a
    /// confirmed id and refused sends go no further and are not counted.
    Claimed,
    /// Node: the envelope written to the broker connection.
    Published,
    /// Node: the broker's confirm arrived (the client is answered `sent`).
    Confirmed,
    /// Dispatcher: the envelope taken from its `input` shard.
    Received,
    /// Dispatcher: the batch appended to the logs (Postgres committed).
    Appended,
    /// Dispatcher: the audience's presence read (Redis).
    Located,
    /// Dispatcher: the bundle written to the broker connection.
    Routed,
    /// Node: the bundle taken from the node's queue.
    Arrived,
    /// Node: the `message` frame flushed to the recipient's socket.
    Written,
}

impl Stage {
    /// Every stage, in path order.
    pub const ALL: [Stage; 9] = [
        Stage::Claimed,
        Stage::Published,
        Stage::Confirmed,
        Stage::Received,
        Stage::Appended,
        Stage::Located,
        Stage::Routed,
        Stage::Arrived,
        Stage::Written,
    ];

    /// The `stage` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Claimed => "claimed",
            Stage::Published => "published",
            Stage::Confirmed => "confirmed",
            Stage::Received => "received",
            Stage::Appended => "appended",
            Stage::Located => "located",
            Stage::Routed => "routed",
            Stage::Arrived => "arrived",
            Stage::Written => "written",
        }
    }

    /// Records that a message read at `read_us` (Unix µs; `None` for one
    /// from a node that does not stamp it) reached this stage now.
    pub fn reached(self, read_us: Option<i64>) {
        if let Some(read_us) = read_us {
            self.reached_at(read_us, now_us());
        }
    }

    /// As [`Stage::reached`], with the time taken once for many messages.
    pub fn reached_at(self, read_us: i64, now_us: i64) {
        let seconds = now_us.saturating_sub(read_us).max(0) as f64 / 1e6;
        metrics::histogram!(MESSAGE_STAGE_SECONDS, "stage" => self.as_str()).record(seconds);
    }

    /// Records that every message read at `read_us` reached this stage now
    /// (a batch, a bundle).
    pub fn reached_all(self, read_us: impl IntoIterator<Item = i64>) {
        let now = now_us();
        for read_us in read_us {
            self.reached_at(read_us, now);
        }
    }
}

/// The wall clock in Unix microseconds: the time a message's stages are
/// measured against.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Counts a refused send under its code.
pub fn send_refused(code: ErrorCode) {
    metrics::counter!(SENDS_REFUSED, "reason" => code.as_str()).increment(1);
}

/// Makes the node's series exist (at zero) and describes them.
pub fn register_node() {
    metrics::describe_gauge!(WS_CONNECTIONS, "open WebSocket connections");
    metrics::gauge!(WS_CONNECTIONS).set(0.0);
    metrics::describe_counter!(SENDS_REFUSED, "sends answered with an error, by code");
    zero(&[
        (MESSAGES_ACCEPTED, "messages confirmed by the broker"),
        (MESSAGES_DELIVERED, "live message frames written"),
        (MESSAGES_REPLAYED, "stored messages written by replays"),
        (ACKS, "message ids acked by clients"),
        (ACKS_DROPPED, "acks dropped while the ack writer was behind"),
        (
            SLOW_CONSUMER_CLOSES,
            "connections closed for reading too slowly",
        ),
        (
            PASSWORD_BUSY,
            "requests refused while the password hasher was full",
        ),
        (SENDS_THROTTLED, "sends held back by the user's send rate"),
        (
            THROTTLED_CLOSES,
            "connections closed for sending too fast for too long",
        ),
        (
            SESSIONS_REVOKED,
            "sessions revoked, as this node learnt them",
        ),
    ]);
}

/// Makes the dispatcher's series exist (at zero) and describes them.
pub fn register_dispatcher() {
    zero(&[
        (DISPATCH_ENVELOPES, "envelopes routed and acked"),
        (DISPATCH_REDELIVERIES, "envelopes redelivered by the broker"),
        (DISPATCH_RETRIES, "batches retried"),
        (MESSAGES_LOGGED, "messages appended to a conversation log"),
        (MESSAGES_EXPIRED, "messages removed by retention"),
        (DELIVERIES_PUBLISHED, "deliveries published to node queues"),
        (DISPATCH_POISON, "envelopes dead-lettered as undecodable"),
        (
            DELIVERIES_RETURNED,
            "deliveries returned: the node's queue is gone",
        ),
    ]);
}

fn zero(counters: &[(&'static str, &'static str)]) {
    for &(name, help) in counters {
        metrics::describe_counter!(name, help);
        metrics::counter!(name).absolute(0);
    }
}
