//! Every RabbitMQ queue Confab uses, declared in this one place with every
//! option spelled out. Names carry the configured prefix (`AMQP_PREFIX`), so
//! test runs and deployments can share a broker.
//!
//! | queue | declared by | purpose |
//! |---|---|---|
//! | `input`, `input.1` … `input.{N-1}` | nodes and dispatchers | the `input` shards: every accepted message and signal, node → dispatcher, sharded by conversation |
//! | `input.dead` | nodes and dispatchers | envelopes the dispatcher could not decode |
//! | `node.{id}` | that node | deliveries for connections on that node |
//!
//! On a RabbitMQ cluster the shards are replicated on
//! [`QUORUM_GROUP_SIZE`] members with their leaders spread over the
//! cluster; a node queue is a classic, transient queue that lives on the
//! broker node its Confab node consumes from, and when that broker node
//! goes, so does the queue: the Confab node declares it again on another
//! member and its connections catch up from the log (`node/src/delivery`).

use lapin::options::{BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use crate::ids::{ConvKey, NodeId};

/// How long a node queue outlives its last consumer: a node that died stops
/// consuming, and its queue (with whatever deliveries sat in it, all of them
/// also in its conversation log) goes away after this.
pub const NODE_QUEUE_EXPIRES_MS: i64 = 30_000;

/// The most deliveries a node queue holds; beyond that the oldest are dropped
/// (they are in the log, and each device's next connect replays them).
/// It bounds the broker's memory when a node stalls.
pub const NODE_QUEUE_MAX_LENGTH: i64 = 100_000;

/// How many members (replicas) each input shard has on a cluster
/// (`x-quorum-initial-group-size`): three, the smallest group that keeps
/// a majority with one member down. A broker cluster of fewer nodes gives
/// each shard all of them.
pub const QUORUM_GROUP_SIZE: i32 = 3;

/// Queue names under one prefix, and how many shards `input` has.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    shards: u16,
}

impl Topology {
    /// The names under `prefix` (e.g. `confab.`), with `shards` input
    /// shards (at least one).
    pub fn new(prefix: impl Into<String>, shards: u16) -> Self {
        Self {
            prefix: prefix.into(),
            shards: shards.max(1),
        }
    }

    /// How many shards `input` has.
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The input shard `shard`: `input` for shard 0 (so one shard is the
    /// queue Confab always had), `input.{shard}` for the others.
    pub fn input(&self, shard: u16) -> String {
        match shard {
            0 => format!("{}input", self.prefix),
            n => format!("{}input.{n}", self.prefix),
        }
    }

    /// Every input shard's name, shard 0 first.
    pub fn inputs(&self) -> Vec<String> {
        (0..self.shards).map(|s| self.input(s)).collect()
    }

    /// The shard that carries everything about `key`: one conversation is
    /// always routed by one shard's active dispatcher, which keeps its order.
    pub fn shard_of(&self, key: ConvKey) -> u16 {
        let n = u64::from(self.shards);
        // A fixed mix (splitmix64's finaliser): every process, whatever its
        // build, picks the same shard.
        let mut x = match key {
            ConvKey::Direct(lo, hi) => {
                (lo.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi.0 as u64
            }
            ConvKey::Group(g) => (g.0 as u64) ^ 0x5851_f42d_4c95_7f2d,
        };
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        u16::try_from(x % n).unwrap_or(0)
    }

    /// Where undecodable envelopes go, for an operator to look at.
    pub fn input_dead(&self) -> String {
        format!("{}input.dead", self.prefix)
    }

    /// The private queue of `node`.
    pub fn node_queue(&self, node: NodeId) -> String {
        format!("{}node.{}", self.prefix, node.0)
    }

    /// Declares every input shard and the dead-letter queue, on a channel
    /// of its own on `connection` (closed after). Idempotent; both sides
    /// declare, so that neither depends on the other having started first.
    ///
    /// A shard an earlier version declared without the replication
    /// arguments ([`QUORUM_GROUP_SIZE`], the leader locator) cannot be
    /// declared again with them: the broker refuses the declaration
    /// (`PRECONDITION_FAILED`, inequivalent arg) and closes the channel.
    /// Such a shard is kept as it is (checked to exist with a passive
    /// declaration) and named in a warning: it works, with the placement
    /// it was given; to move it to the new one, drain and delete it
    /// (docs/architecture.md, "Input shards").
    pub async fn declare_input(&self, connection: &Connection) -> lapin::Result<()> {
        let mut channel = connection.create_channel().await?;
        if let Err(e) = self.declare_dead(&channel).await {
            // Only the broker writes to it (the shards' dead letters):
            // publishing does not wait for it.
            tracing::warn!(
                queue = %self.input_dead(),
                error = %e,
                "cannot declare the dead-letter queue; going on without"
            );
            channel = connection.create_channel().await?;
        }
        for shard in self.inputs() {
            match self.declare_shard(&channel, &shard).await {
                Ok(()) => {}
                Err(e) if is_inequivalent(&e) => {
                    tracing::warn!(
                        queue = %shard,
                        error = %e,
                        "input shard declared by an earlier version with other arguments; kept as it is"
                    );
                    channel = connection.create_channel().await?;
                    channel
                        .queue_declare(
                            ShortString::from(shard),
                            QueueDeclareOptions {
                                passive: true,
                                ..QueueDeclareOptions::default()
                            },
                            FieldTable::default(),
                        )
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
        channel.close(200, "declared".into()).await
    }

    /// Declares `input.dead`: a quorum queue, like the shards, so that it
    /// can be declared with a member of the cluster down. A durable classic
    /// queue (what it was before issue 27, and what a deployment of then
    /// still has) cannot: its declaration fails while its one home member
    /// is down (404), which kept every node from opening its publish
    /// channel until that member came back.
    async fn declare_dead(&self, channel: &Channel) -> lapin::Result<()> {
        // Survives broker restarts: what is in it needs a human.
        declare_replicated(channel, &self.input_dead(), replicated()).await
    }

    /// Declares one input shard.
    async fn declare_shard(&self, channel: &Channel, name: &str) -> lapin::Result<()> {
        let mut args = replicated();
        // Each shard's leader (the member that takes its publishes and
        // feeds its consumer) on the member leading the fewest queues, so
        // the shards' leaders spread over the cluster instead of all
        // landing on whichever member the first node was connected to.
        args.insert(
            "x-queue-leader-locator".into(),
            AMQPValue::LongString("balanced".into()),
        );
        // One dispatcher consumes a shard at a time: the others stand by, so
        // routing order is the shard's order even with several dispatchers
        // running (each may be the active one of different shards).
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
        declare_replicated(channel, name, args).await
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

/// The arguments of a replicated queue: quorum (Raft; a confirmed publish
/// is fsynced on a majority of its members), on [`QUORUM_GROUP_SIZE`]
/// members on a cluster of 3 or more (one may fail and the queue still
/// takes and gives messages), every node on a smaller one (the broker caps
/// it; a single broker is a group of one). The group size is only read
/// when the queue is created.
fn replicated() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-quorum-initial-group-size".into(),
        AMQPValue::LongInt(QUORUM_GROUP_SIZE),
    );
    args
}

/// Declares the durable queue `name` with `args`.
async fn declare_replicated(channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    channel
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await?;
    Ok(())
}

/// Whether `error` is the broker refusing a declaration whose arguments
/// differ from the existing queue's (406 `PRECONDITION_FAILED`).
fn is_inequivalent(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(e) if e.get_id() == 406)
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

/// Properties of a bundle of deliveries to a node queue: JSON, transient.
pub fn transient_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupId, UserId};

    const PINNED: [u16; 8] = [0, 0, 1, 0, 0, 1, 1, 3];

    #[test]
    fn shard_zero_is_the_old_input_queue_and_shards_are_stable() {
        let one = Topology::new("c.", 1);
        assert_eq!(one.inputs(), vec!["c.input"]);
        assert_eq!(one.shard_of(ConvKey::Group(GroupId(7))), 0);
        let four = Topology::new("c.", 4);
        assert_eq!(
            four.inputs(),
            ["c.input", "c.input.1", "c.input.2", "c.input.3"]
        );
        // Pinned: nodes and dispatchers of different builds must agree.
        let picks: Vec<u16> = (1..=8)
            .map(|g| four.shard_of(ConvKey::Group(GroupId(g))))
            .collect();
        assert_eq!(picks, PINNED);
        // Every shard gets some of many conversations.
        let mut used = [0usize; 4];
        for a in 1..200 {
            used[usize::from(four.shard_of(ConvKey::direct(UserId(a), UserId(a + 1))))] += 1;
        }
        assert!(used.iter().all(|&n| n > 20), "{used:?}");
    }

    /// A shard an earlier version declared without the replication
    /// arguments is kept as it is (the broker refuses the new ones), and
    /// the other shards are declared with them.
    #[tokio::test]
    async fn a_shard_declared_by_an_earlier_version_is_kept() {
        let url = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        let connection = Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ");
        let prefix = format!("confab-test-{}.", uuid::Uuid::new_v4().simple());
        let topology = Topology::new(prefix.clone(), 2);
        let channel = connection.create_channel().await.expect("channel");
        let mut old = FieldTable::default();
        old.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(ShortString::from(topology.input(0)), durable, old)
            .await
            .expect("the old shard");
        let declared = topology.declare_input(&connection).await;
        let channel = connection.create_channel().await.expect("channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let mut missing = Vec::new();
        for queue in [topology.input(0), topology.input(1), topology.input_dead()] {
            let name = ShortString::from(queue.as_str());
            let exists = channel.queue_declare(name.clone(), passive, FieldTable::default());
            if exists.await.is_err() {
                missing.push(queue);
                continue;
            }
            let deleted = channel.queue_delete(name, Default::default()).await;
            deleted.expect("deleted");
        }
        declared.expect("declared, the old shard kept");
        assert!(missing.is_empty(), "not declared: {missing:?}");
    }
}
