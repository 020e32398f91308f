//! Abuse limits: the send rate per connection, connections per user, and a
//! client that never reads.

use std::time::Duration;

use crate::client::{Client, refused, to_user, with_bearer};
use crate::helpers::TestApp;

#[tokio::test]
async fn a_user_has_a_bounded_number_of_connections() {
    let app = TestApp::spawn_cluster(2, false, &["--max-connections-per-user", "2"]).await;
    let alice = app.register("alice").await;
    let _one = Client::connect(&app, 0, &alice).await;
    let _two = Client::connect(&app, 1, &alice).await;
    let url = format!("ws://{}/ws", app.nodes[0].addr);
    let (status, body) = refused(&url, Some(&alice.token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_connections"))
    );
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_keeps_its_messages() {
    let app = TestApp::spawn_cluster(1, true, &["--outbound-queue", "16"]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let mut a = Client::connect(&app, 0, &alice).await;
    // Bob connects and then never reads.
    let url = format!("ws://{}/ws", app.nodes[0].addr);
    let (stalled, _) = tokio_tungstenite::connect_async(with_bearer(&url, &bob.token))
        .await
        .unwrap();
    let body = "x".repeat(3990);
    let bodies: Vec<String> = (0..1500).map(|i| format!("{i:04}{body}")).collect();
    a.send_burst("flood", to_user(&bob), &bodies).await;
    // The node gave up on the stalled connection instead of buffering.
    let mut closed = false;
    for _ in 0..100 {
        let located = app.presence.locate(&[bob.id]).await.unwrap();
        if !located.contains_key(&bob.id) {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the stalled connection is still registered");
    drop(stalled);
    // Nothing was lost: all of it is in the log, in order, and the device
    // acked none of it.
    app.eventually(1500, "SELECT count(*) FROM messages").await;
    app.eventually(
        0,
        &format!(
            "SELECT count(*) FROM device_positions WHERE user_id = {} AND seq > 0",
            bob.id
        ),
    )
    .await;
    let mut b = Client::connect(&app, 0, &bob).await;
    let replay = b.messages(1500).await;
    let order: Vec<String> = replay
        .iter()
        .map(|m| m["body"].as_str().unwrap()[..4].to_owned())
        .collect();
    let expected: Vec<String> = (0..1500).map(|i| format!("{i:04}")).collect();
    assert_eq!(order, expected);
}
