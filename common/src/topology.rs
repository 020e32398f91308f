//! Every RabbitMQ queue Confab uses, declared in this one place with every
//! option spelled out. Names carry the configured prefix (`AMQP_PREFIX`), so
//! test runs and deployments can share a broker.
//!
//! | queue | declared by | purpose |
//! |---|---|---|
//! | `input` | nodes and dispatchers | every accepted message, node → dispatcher |
//! | `input.dead` | nodes and dispatchers | envelopes the dispatcher could not decode |
//! | `node.{id}` | that node | deliveries for connections on that node |

use lapin::options::{BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};

use crate::ids::NodeId;

/// How long a node queue outlives its last consumer: a node that died stops
/// consuming, and its queue (with whatever deliveries sat in it, all of them
/// also in its conversation log) goes away after this.
pub const NODE_QUEUE_EXPIRES_MS: i64 = 30_000;

/// The most deliveries a node queue holds; beyond that the oldest are dropped
/// (they are in the log, and each device's next connect replays them).
/// It bounds the broker's memory when a node stalls.
pub const NODE_QUEUE_MAX_LENGTH: i64 = 100_000;

/// Queue names under one prefix.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    /// The names under `prefix` (e.g. `confab.`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// Where nodes publish and the dispatcher consumes.
    pub fn input(&self) -> String {
        format!("{}input", self.prefix)
    }

    /// Where undecodable envelopes go, for an operator to look at.
    pub fn input_dead(&self) -> String {
        format!("{}input.dead", self.prefix)
    }

    /// The private queue of `node`.
    pub fn node_queue(&self, node: NodeId) -> String {
        format!("{}node.{}", self.prefix, node.0)
    }

    /// Declares `input` and its dead-letter queue. Idempotent; both sides
    /// declare, so that neither depends on the other having started first.
    pub async fn declare_input(&self, channel: &Channel) -> lapin::Result<()> {
        channel
            .queue_declare(
                ShortString::from(self.input_dead()),
                QueueDeclareOptions {
                    // Survives broker restarts: what is in it needs a human.
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        // Quorum: replicated and fsynced; a confirmed publish is on disk.
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        // One dispatcher consumes at a time: the others stand by, so routing
        // order is `input` order even with several dispatchers running.
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        // A rejected (undecodable) envelope goes to `input.dead`, not away.
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(self.input_dead().into()),
        );
        channel
            .queue_declare(
                ShortString::from(self.input()),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await?;
        Ok(())
    }

    /// Declares `node`'s private queue.
    pub async fn declare_node_queue(&self, channel: &Channel, node: NodeId) -> lapin::Result<()> {
        let mut args = FieldTable::default();
        args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(NODE_QUEUE_EXPIRES_MS),
        );
        args.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(NODE_QUEUE_MAX_LENGTH),
        );
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString("drop-head".into()),
        );
        channel
            .queue_declare(
                ShortString::from(self.node_queue(node)),
                QueueDeclareOptions {
                    // Not durable, and its messages are not persistent: every
                    // delivery is also in the log, so this queue is a fast
                    // path, not a store.
                    durable: false,
                    // Not exclusive: a node that reconnects to the broker
                    // finds its queue (and what arrived meanwhile) again.
                    exclusive: false,
                    auto_delete: false,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await?;
        Ok(())
    }
}

/// Sets how many unacked deliveries the broker hands a consumer on `channel`.
pub async fn set_prefetch(channel: &Channel, count: u16) -> lapin::Result<()> {
    channel.basic_qos(count, BasicQosOptions::default()).await
}

/// Properties of an envelope on `input`: JSON, persistent.
pub fn persistent_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
}

/// Properties of a delivery to a node queue: JSON, transient.
pub fn transient_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(1)
}
