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
