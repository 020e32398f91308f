//! RabbitMQ going away and coming back while clients stay connected: live
//! delivery resumes on every node without any client reconnecting, and
//! every message confirmed before, during and after the outage arrives
//! once, in order.

use std::time::Duration;

use crate::client::{Client, bodies, ids, to_user};
use crate::helpers::{Outage, TestApp, TestUser};

/// Two friends, one on each node.
async fn pair_on_two_nodes(app: &TestApp) -> (TestUser, TestUser, Client, Client) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let a = Client::connect(app, 0, &alice).await;
    let b = Client::connect(app, 1, &bob).await;
    (alice, bob, a, b)
}

/// Conversation traffic in both directions: `a` and `b` each send `label-i`
/// for every `i` in `range`, re-sending while the answer is `unavailable`.
/// Returns the `msg_id`s each confirmed, in order.
async fn exchange(
    a: &mut Client,
    b: &mut Client,
    alice: &TestUser,
    bob: &TestUser,
    label: &str,
    range: std::ops::Range<usize>,
) -> (Vec<String>, Vec<String>) {
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for i in range {
        let body = format!("{label}-{i}");
        from_a.push(
            a.send_until_sent(&format!("a-{body}"), to_user(bob), &body)
                .await,
        );
        from_b.push(
            b.send_until_sent(&format!("b-{body}"), to_user(alice), &body)
                .await,
        );
    }
    (from_a, from_b)
}

/// Reads `expected.len()` messages and checks they are exactly `expected`,
/// in that order, each once; acks them.
async fn receives_in_order_once(client: &mut Client, expected: &[String], what: &str) {
    let got = client.messages(expected.len()).await;
    assert_eq!(ids(&got), expected, "{what}: bodies {:?}", bodies(&got));
    client.ack(expected).await;
    client.expect_no_message(Duration::from_millis(300)).await;
    assert_eq!(client.closed, None, "{what}: the connection was closed");
}

/// A broker that accepts connections and never answers the handshake (what
/// a booting RabbitMQ does to some of them) used to freeze a node for good:
/// its publisher waited on that handshake forever, holding the lock every
/// sending session queued behind, and frozen sessions stopped writing
/// deliveries while their clients stayed connected. Now each wait is bounded
/// and the node's sessions never wait for a reconnect.
#[tokio::test]
async fn a_handshake_the_broker_never_answers_does_not_freeze_a_node() {
    let broker = Outage::forward_to("127.0.0.1:5672").await;
    let url = format!("amqp://guest:guest@{}/%2f", broker.addr);
    let app = TestApp::spawn_cluster(
        2,
        true,
        &[
            "--amqp-url",
            &url,
            "--amqp-timeout-ms",
            "1000",
            "--publish-timeout-ms",
            "3000",
        ],
    )
    .await;
    let (alice, bob, mut a, mut b) = pair_on_two_nodes(&app).await;
    let (mut to_bob, mut to_alice) = exchange(&mut a, &mut b, &alice, &bob, "before", 0..3).await;

    // Every node connection cut; each node's reconnect attempts are
    // accepted and left unanswered.
    broker.stall();
    // A send while the node has no channel is answered (`sent` if the old
    // channel still took it, `unavailable` if not), never left waiting.
    a.send_message("probe", to_user(&bob), "probe").await;
    let answer = a.next_where(|f| f["id"] == "probe").await;
    assert!(
        answer["type"] == "sent" || answer["code"] == "unavailable",
        "{answer}"
    );
    // Handshakes are hanging now: both nodes' queue consumers', and the
    // publisher's of the node that was asked to send.
    broker.stalled_at_least(3).await;
    broker.up();

    // `unavailable` means "may or may not have been accepted": the client
    // sends it again with the same id, and it arrives once either way.
    to_bob.push(a.send_until_sent("probe", to_user(&bob), "probe").await);
    let (during_a, during_b) = exchange(&mut a, &mut b, &alice, &bob, "after", 0..3).await;
    to_bob.extend(during_a);
    to_alice.extend(during_b);
    receives_in_order_once(&mut b, &to_bob, "bob on node 2").await;
    receives_in_order_once(&mut a, &to_alice, "alice on node 1").await;
}

/// The real thing: `rabbitmqctl stop_app` / `start_app` while two nodes hold
/// connected clients who keep chatting through it. It restarts the shared
/// broker, so nextest runs it alone (`.config/nextest.toml`).
#[tokio::test]
async fn rabbitmq_restart_resumes_live_delivery_on_both_nodes_without_reconnects() {
    let app = TestApp::spawn_cluster(2, true, &[]).await;
    let (alice, bob, mut a, mut b) = pair_on_two_nodes(&app).await;
    let (mut to_bob, mut to_alice) = exchange(&mut a, &mut b, &alice, &bob, "before", 0..3).await;
    receives_in_order_once(&mut b, &to_bob, "bob, before").await;
    receives_in_order_once(&mut a, &to_alice, "alice, before").await;

    let restart = tokio::spawn(async {
        for args in [
            &["-q", "stop_app"][..],
            &["-q", "start_app"],
            &["-q", "await_startup"],
        ] {
            let status = tokio::process::Command::new("rabbitmqctl")
                .args(args)
                .status()
                .await
                .expect("run rabbitmqctl");
            assert!(status.success(), "rabbitmqctl {args:?}: {status}");
        }
    });
    // Keep chatting through the outage: sends are answered `unavailable`
    // until the broker is back, then confirmed under their first id.
    let mut round = 0;
    while !restart.is_finished() {
        let (x, y) = exchange(&mut a, &mut b, &alice, &bob, "during", round..round + 1).await;
        to_bob.extend(x);
        to_alice.extend(y);
        round += 1;
    }
    restart.await.expect("the restart");
    let (x, y) = exchange(&mut a, &mut b, &alice, &bob, "after", 0..5).await;
    to_bob.extend(x);
    to_alice.extend(y);

    let earlier = 3;
    receives_in_order_once(&mut b, &to_bob[earlier..], "bob on node 2").await;
    receives_in_order_once(&mut a, &to_alice[earlier..], "alice on node 1").await;
}
