//! The connection loop's rules, driven over channels as a client drives a
//! socket, with in-memory doubles of the node's services (the system suite,
//! `system/tests/it`, tests the real ones): the replay on connect is written
//! before any client frame is answered, deliveries queued meanwhile follow
//! it, a slow consumer is closed 1013, shutdown closes 1001 after the
//! `sent`s in flight, and answers keep `send` order.
//!
//! Each test waits on what the doubles report (the device opened, a send
//! handed to the broker), never on a sleep; the hub is the real one.

mod harness;

use confab_common::envelope::Delivery;
use confab_common::log::Logged;
use confab_common::presence::ConnKey;
use confab_common::wire::{MessagePayload, Target};
use confab_common::{MessageId, NodeId, Seq};
use serde_json::{Value, json};

use harness::{CONV, FRIEND, ME, connect};

/// Another connection (the origin of live deliveries).
const ELSEWHERE: ConnKey = ConnKey {
    node: NodeId(9),
    incarnation: 9,
    conn: 9,
};

/// Message `seq` of [`CONV`], from [`FRIEND`]; its body is `m<seq>`.
fn logged(seq: i64) -> Logged {
    Logged {
        conv: CONV,
        message: MessagePayload {
            msg_id: MessageId(100 + seq),
            from: FRIEND,
            to: Target::User(ME),
            body: format!("m{seq}"),
            ts: 0,
            seq: Some(Seq(seq)),
        },
        sender_device: None,
    }
}

/// Message `seq` as the node's queue delivers it to [`ME`].
fn delivery(seq: i64) -> Delivery {
    let message = logged(seq).message;
    Delivery {
        frame: Delivery::frame_of(&message),
        msg_id: message.msg_id,
        conv: CONV,
        seq: Seq(seq),
        ts: 0,
        users: vec![ME],
        origin: ELSEWHERE,
        read_us: None,
    }
}

fn ping() -> Value {
    json!({"type": "ping"})
}

fn send(id: &str) -> Value {
    json!({"type": "send", "id": id, "to": {"user": FRIEND.0}, "body": "hi"})
}

#[tokio::test]
async fn the_replay_on_connect_is_written_before_any_client_frame_is_answered() {
    let (mut node, mut client) = connect((1..=3).map(logged).collect(), 16);
    client.send(ping());
    node.replaying().await;
    node.log.allow();
    assert_eq!(client.take(4).await, ["m1", "m2", "m3", "pong"]);
}

#[tokio::test]
async fn deliveries_queued_during_the_replay_follow_it_each_once_in_seq_order() {
    let (mut node, mut client) = connect((1..=3).map(logged).collect(), 16);
    node.replaying().await;
    // Two the replay has too, a new one twice (a redelivery), the next.
    for seq in [2, 3, 4, 4, 5] {
        node.hub.deliver(&delivery(seq));
    }
    // The loop runs (a single-threaded runtime) with the deliveries queued
    // and the replay still reading.
    tokio::task::yield_now().await;
    node.log.allow();
    assert_eq!(client.take(5).await, ["m1", "m2", "m3", "m4", "m5"]);
    // Nothing else was queued before the answer.
    client.send(ping());
    assert_eq!(client.next().await, "pong");
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_1013() {
    let (mut node, mut client) = connect((1..=3).map(logged).collect(), 2);
    node.replaying().await;
    // The queue holds two while the replay runs; the third kicks.
    for seq in 4..=6 {
        node.hub.deliver(&delivery(seq));
    }
    assert_eq!(client.next().await, "close 1013");
    client.ended().await;
    assert!(node.hub.is_empty());
}

#[tokio::test]
async fn shutdown_closes_with_1001_after_the_sends_in_flight_are_answered() {
    let (mut node, mut client) = connect(Vec::new(), 16);
    node.log.allow();
    client.send(send("a"));
    let (id, confirm) = node.handed_over().await;
    assert_eq!(id, "a");
    node.shutdown.cancel();
    // The loop runs (a single-threaded runtime) and sees the shutdown while
    // "a" still waits for its confirm.
    tokio::task::yield_now().await;
    confirm.send(()).unwrap();
    assert_eq!(client.take(2).await, ["sent a", "close 1001"]);
    client.ended().await;
    assert!(node.hub.is_empty());
}

#[tokio::test]
async fn answers_keep_send_order_when_confirms_come_out_of_order() {
    let (mut node, mut client) = connect(Vec::new(), 16);
    node.log.allow();
    for id in ["a", "b", "c"] {
        client.send(send(id));
    }
    let (a, b, c) = (
        node.handed_over().await,
        node.handed_over().await,
        node.handed_over().await,
    );
    assert_eq!([&a.0, &b.0, &c.0], ["a", "b", "c"]);
    c.1.send(()).unwrap();
    b.1.send(()).unwrap();
    // "b" and "c" are confirmed, but wait for "a": only the pong goes out.
    client.send(ping());
    assert_eq!(client.next().await, "pong");
    a.1.send(()).unwrap();
    assert_eq!(client.take(3).await, ["sent a", "sent b", "sent c"]);
}
