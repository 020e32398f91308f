//! Order (`batch.rs`): a conversation reaches its node in `seq` order, 1..n
//! with no gap, each message once, however its items were framed on
//! `input`; a batch is routed in `msg_id` order, whatever order its items
//! came in.

use confab_common::NodeId;

use crate::bed::TestBed;
use crate::node::FakeNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_reaches_its_node_in_seq_order_one_item_or_many_per_amqp_message() {
    let bed = TestBed::new(1).await;
    let node = FakeNode::start(&bed, NodeId(1)).await;
    let (alice, bob, origin) = node.friends(&bed).await;
    let dispatcher = bed.start_dispatcher(None).await;

    let sent: Vec<_> = (0..40)
        .map(|i| bed.message(alice, bob, &format!("m{i:02}"), origin))
        .collect();
    // Framed as nodes frame them: alone, or arrays of whatever was waiting.
    let mut rest = sent.as_slice();
    for size in [1, 3, 1, 1, 7, 2, 1, 10, 1, 4].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (items, after) = rest.split_at(size.min(rest.len()));
        bed.publish(items).await;
        rest = after;
    }

    let got = node.deliveries(&bed, sent.len()).await;
    let ids: Vec<_> = got.iter().map(|d| d.msg_id).collect();
    let expected: Vec<_> = sent.iter().map(|e| e.message.msg_id).collect();
    assert_eq!(ids, expected, "routed in publish order, each once");
    let seqs: Vec<i64> = got.iter().map(|d| d.seq.0).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "gapless seqs in order");
    // One delivery per message for the node, for both users on it.
    assert!(got.iter().all(|d| d.users.len() == 2), "{:?}", got[0].users);

    // Stopped, the dispatcher has published all it will: nothing else came.
    dispatcher.stop().await;
    assert!(
        node.try_bundle(&bed).await.is_none(),
        "a delivery came twice"
    );
    let log = bed.log().await;
    let logged: Vec<_> = log.iter().map(|&(id, _, seq)| (id, seq)).collect();
    let numbered: Vec<_> = expected.iter().copied().zip(1..).collect();
    assert_eq!(logged, numbered, "the log numbers them in the same order");
    assert_eq!(bed.ready(&bed.topology.input(0)).await, 0, "all acked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_items_out_of_id_order_in_one_batch_are_logged_and_routed_in_id_order() {
    let bed = TestBed::new(1).await;
    let node = FakeNode::start(&bed, NodeId(1)).await;
    let (alice, bob, origin) = node.friends(&bed).await;
    let dispatcher = bed.start_dispatcher(None).await;

    let first = bed.message(alice, bob, "first", origin);
    let second = bed.message(alice, bob, "second", origin);
    let third = bed.message(alice, bob, "third", origin);
    // One AMQP message is always one batch.
    bed.publish(&[third.clone(), first.clone(), second.clone()])
        .await;

    // One batch: one bundle for the node, in id order, numbered so.
    let bundle = node.next_bundle(&bed).await;
    let got: Vec<_> = bundle
        .deliveries
        .iter()
        .map(|d| (d.msg_id, d.seq.0))
        .collect();
    let expected = vec![
        (first.message.msg_id, 1),
        (second.message.msg_id, 2),
        (third.message.msg_id, 3),
    ];
    assert_eq!(got, expected);
    let frames: Vec<serde_json::Value> = bundle
        .deliveries
        .iter()
        .map(|d| serde_json::from_str(d.frame.get()).unwrap())
        .collect();
    let bodies: Vec<_> = frames.iter().map(|f| f["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["first", "second", "third"]);
    assert_eq!(frames[0]["seq"], 1, "the frame carries its seq");
    dispatcher.stop().await;
    let log: Vec<_> = bed
        .log()
        .await
        .iter()
        .map(|&(id, _, seq)| (id, seq))
        .collect();
    assert_eq!(log, expected);
}
