//! Poison (`batch.rs`, `topology.rs`): an AMQP message of an input shard
//! that does not decode is rejected to `input.dead`, as it came, and the
//! items around it are routed and acked as if it had not been there.

use confab_common::NodeId;

use crate::bed::TestBed;
use crate::node::FakeNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_item_goes_to_input_dead_and_the_items_around_it_are_routed() {
    let bed = TestBed::new(1).await;
    let node = FakeNode::start(&bed, NodeId(1)).await;
    let (alice, bob, origin) = node.friends(&bed).await;
    let input = bed.topology.input(0);
    let sent: Vec<_> = ["one", "two", "three"]
        .map(|body| bed.message(alice, bob, body, origin))
        .into();

    // Waiting before the dispatcher starts: its first window, one batch
    // with the poison in the middle.
    bed.publish(&sent[0..1]).await;
    bed.publish_raw(&input, b"not json").await;
    bed.publish(&sent[1..2]).await;
    let dispatcher = bed.start_dispatcher(None).await;
    // Valid JSON that is no `Input`, while the shard is running.
    bed.publish_raw(&input, br#"{"neither":"an input"}"#).await;
    bed.publish(&sent[2..3]).await;

    let got = node.deliveries(&bed, 3).await;
    let got: Vec<_> = got.iter().map(|d| (d.msg_id, d.seq.0)).collect();
    let expected: Vec<_> = sent.iter().map(|e| e.message.msg_id).zip(1..).collect();
    assert_eq!(got, expected);
    let dead = bed.topology.input_dead();
    bed.until_ready(&dead, 2).await;
    assert_eq!(bed.get(&dead).await.unwrap(), b"not json");
    assert_eq!(bed.get(&dead).await.unwrap(), br#"{"neither":"an input"}"#);
    dispatcher.stop().await;
    assert_eq!(bed.ready(&input).await, 0, "every valid item acked");
    assert_eq!(bed.log().await.len(), 3);
}

/// A batch is acked through its last delivery that decoded: a poison
/// delivery's acker is spent by its reject (lapin's copies share the flag),
/// and an ack through it would silently do nothing, leaving the batch to be
/// routed (and delivered) again after the shard's channel closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_ends_with_poison_is_still_acked() {
    let bed = TestBed::new(1).await;
    let node = FakeNode::start(&bed, NodeId(1)).await;
    let (alice, bob, origin) = node.friends(&bed).await;
    let input = bed.topology.input(0);
    let message = bed.message(alice, bob, "last before the poison", origin);
    bed.publish(std::slice::from_ref(&message)).await;
    bed.publish_raw(&input, b"not json").await;
    let dispatcher = bed.start_dispatcher(None).await;

    let bundle = node.next_bundle(&bed).await;
    assert_eq!(bundle.deliveries[0].msg_id, message.message.msg_id);
    bed.until_ready(&bed.topology.input_dead(), 1).await;
    dispatcher.stop().await;
    assert_eq!(bed.ready(&input).await, 0, "the message was left unacked");
}
