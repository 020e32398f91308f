//! Acks (`batch.rs`): an `input` item is acked only once it is in its log
//! and its bundles are confirmed. A bundle the broker returns (the node
//! queue is gone) counts as done: the message is in the log, the item is
//! acked. A bundle the broker refuses (nack) leaves the batch unacked: the
//! shard reconnects, the item comes back and is routed again, with the seq
//! it was logged with, until a publish is taken.

use confab_common::NodeId;
use confab_common::metric;

use crate::bed::TestBed;
use crate::node::FakeNode;

/// The value of the counter `name` in this process's metrics (nextest runs
/// each test in a process of its own).
fn counter(name: &str) -> f64 {
    let rendered = confab_common::telemetry::prometheus().render();
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_for_a_node_queue_that_is_gone_is_returned_and_its_item_acked() {
    let bed = TestBed::new(1).await;
    let gone = FakeNode::without_queue(&bed, NodeId(1)).await;
    let (alice, bob, origin) = gone.friends(&bed).await;
    let dispatcher = bed.start_dispatcher(None).await;

    let message = bed.message(alice, bob, "into the void", origin);
    bed.publish(std::slice::from_ref(&message)).await;
    bed.until_logged(1).await;
    // A graceful stop finishes the batch in hand: its publish is returned
    // and, the return being no failure, the item is acked. Had it been
    // left unacked, closing the channel would have put it back.
    dispatcher.stop().await;
    assert_eq!(bed.ready(&bed.topology.input(0)).await, 0, "acked");
    let log = bed.log().await;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].0, log[0].2), (message.message.msg_id, 1));
    assert!(counter(metric::DELIVERIES_RETURNED) >= 1.0, "counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bundle_leaves_its_item_unacked_until_the_node_queue_takes_it() {
    let bed = TestBed::new(1).await;
    let node = FakeNode::with_full_queue(&bed, NodeId(1)).await;
    let (alice, bob, origin) = node.friends(&bed).await;
    let dispatcher = bed.start_dispatcher(None).await;
    let input = bed.topology.input(0);

    let message = bed.message(alice, bob, "wait for it", origin);
    bed.publish(std::slice::from_ref(&message)).await;
    // Logged, then refused by the full queue: the shard lets go of the
    // batch without acking it, and the item is back in `input` (ready),
    // to be routed again after the shard's backoff.
    bed.until_logged(1).await;
    bed.until_ready(&input, 1).await;
    assert_eq!(bed.ready(&node.queue).await, 1, "only the filler");

    // The node catches up: the next attempt is taken, with the seq the
    // message was logged with, once.
    node.drain().await;
    let bundle = node.next_bundle(&bed).await;
    let got: Vec<_> = bundle
        .deliveries
        .iter()
        .map(|d| (d.msg_id, d.seq.0))
        .collect();
    assert_eq!(got, [(message.message.msg_id, 1)]);
    dispatcher.stop().await;
    assert_eq!(bed.ready(&input).await, 0, "acked once taken");
    let log = bed.log().await;
    assert_eq!(log.len(), 1, "routed again, logged once");
    assert_eq!((log[0].0, log[0].2), (message.message.msg_id, 1));
    assert!(counter(metric::DISPATCH_REDELIVERIES) >= 1.0);
}
