//! `FakeNode`: all the dispatcher sees of a node — its queue, and its
//! connections in Redis presence kept alive by a heartbeat — and a reader of
//! the bundles the dispatcher routes to it.

use std::sync::atomic::{AtomicU64, Ordering};

use confab_common::NodeId;
use confab_common::UserId;
use confab_common::envelope::{Bundle, Delivery};
use confab_common::presence::{ConnKey, HEARTBEAT_INTERVAL};
use lapin::options::{QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio_util::task::AbortOnDropHandle;

use crate::bed::{PATIENCE, POLL, TestBed};

/// A node process as presence and its queue show it.
pub struct FakeNode {
    pub id: NodeId,
    /// Its queue (which may not exist).
    pub queue: String,
    incarnation: u64,
    channel: lapin::Channel,
    next_conn: AtomicU64,
    _heartbeat: AbortOnDropHandle<()>,
}

impl FakeNode {
    /// Node `id`, alive, with its queue declared as a node declares it.
    pub async fn start(bed: &TestBed, id: NodeId) -> Self {
        let node = Self::without_queue(bed, id).await;
        let declare = bed.topology.declare_node_queue(&node.channel, id);
        declare.await.expect("declare the node queue");
        node
    }

    /// Node `id`, alive in presence, whose queue is gone.
    pub async fn without_queue(bed: &TestBed, id: NodeId) -> Self {
        let queue = bed.topology.node_queue(id);
        bed.owns(&queue);
        let incarnation = u64::from(id.0) * 1_000 + 7;
        let presence = bed.presence.clone();
        // Alive for `NODE_TTL` after each beat, as long as the test runs.
        presence
            .heartbeat(id, incarnation)
            .await
            .expect("heartbeat");
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                let _ = presence.heartbeat(id, incarnation).await;
            }
        });
        Self {
            id,
            queue,
            incarnation,
            channel: bed.channel.clone(),
            next_conn: AtomicU64::new(1),
            _heartbeat: AbortOnDropHandle::new(heartbeat),
        }
    }

    /// Node `id`, alive, whose queue is full: it holds one filler message
    /// and refuses (nacks) every publish until [`FakeNode::drain`].
    pub async fn with_full_queue(bed: &TestBed, id: NodeId) -> Self {
        let node = Self::without_queue(bed, id).await;
        let mut args = FieldTable::default();
        args.insert("x-max-length".into(), AMQPValue::LongLongInt(1));
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
        let options = QueueDeclareOptions::default();
        let declare = node
            .channel
            .queue_declare(node.queue.as_str().into(), options, args);
        declare.await.expect("declare the full node queue");
        bed.publish_raw(&node.queue, b"filler").await;
        node
    }

    /// Empties the queue (the node caught up): it takes publishes again.
    pub async fn drain(&self) {
        let purge = self
            .channel
            .queue_purge(self.queue.as_str().into(), QueuePurgeOptions::default());
        purge.await.expect("purge the node queue");
    }

    /// Alice and Bob, friends, both connected here: `(alice, bob, the
    /// connection Alice sends from)`.
    pub async fn friends(&self, bed: &TestBed) -> (UserId, UserId, ConnKey) {
        let (alice, bob) = (bed.user("alice").await, bed.user("bob").await);
        bed.befriend(alice, bob).await;
        let origin = self.connect(bed, alice).await;
        self.connect(bed, bob).await;
        (alice, bob, origin)
    }

    /// Registers a connection of `user` on this node, as a node does when a
    /// socket opens.
    pub async fn connect(&self, bed: &TestBed, user: UserId) -> ConnKey {
        let key = ConnKey {
            node: self.id,
            incarnation: self.incarnation,
            conn: self.next_conn.fetch_add(1, Ordering::Relaxed),
        };
        bed.presence
            .register(&[(user, key)])
            .await
            .expect("register");
        key
    }

    /// The next bundle in the queue, if there is one now (acked).
    pub async fn try_bundle(&self, bed: &TestBed) -> Option<Bundle> {
        let data = bed.get(&self.queue).await?;
        Some(serde_json::from_slice(&data).expect("a bundle"))
    }

    /// The next bundle, waiting for it.
    pub async fn next_bundle(&self, bed: &TestBed) -> Bundle {
        let wait = async {
            loop {
                if let Some(bundle) = self.try_bundle(bed).await {
                    return bundle;
                }
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("nothing arrived in {}", self.queue))
    }

    /// Deliveries, bundle after bundle, until there are at least `n`.
    pub async fn deliveries(&self, bed: &TestBed, n: usize) -> Vec<Delivery> {
        let mut got = Vec::new();
        while got.len() < n {
            got.extend(self.next_bundle(bed).await.deliveries);
        }
        got
    }
}
