//! Which credential `GET /ws` takes (docs/protocol.md, "Connecting"): a
//! token in `Authorization: Bearer`, or a single-use ticket offered as a
//! subprotocol, never one in the URL. The ticket's own rules are in
//! `sessions.rs`; what the gateway logs, in `gateway.rs`.

use serde_json::json;

use crate::client::{Client, refused, refused_request, ticket_protocol_request};
use crate::helpers::TestApp;

#[tokio::test]
async fn a_bad_token_is_refused_before_the_upgrade_and_one_in_the_url_always() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let url = format!("ws://{}/ws", app.nodes[0].addr);
    let code = |(status, body): (u16, serde_json::Value)| {
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(
        code(refused(&url, None).await),
        (401, "missing_token".into())
    );
    let garbage = code(refused(&url, Some("garbage")).await);
    assert_eq!(garbage, (401, "invalid_token".into()));

    // A token or a ticket in the URL, as the deprecated `?token=` and the
    // old fallback `?ticket=` had it, is refused whatever it is and
    // whatever comes with it, before the ticket is looked at.
    let ticket = app
        .post("/api/auth/ws-ticket", &alice, json!({}))
        .await
        .expect(201)["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let in_url = (400, "credential_in_url".to_owned());
    for query in [
        "token=garbage".to_owned(),
        format!("token={}", alice.token),
        format!("device=phone&Token={}", alice.token),
        format!("ticket={ticket}"),
    ] {
        let with_query = format!("{url}?{query}");
        assert_eq!(code(refused(&with_query, None).await), in_url, "{query}");
        let with_header = code(refused(&with_query, Some(&alice.token)).await);
        assert_eq!(with_header, in_url, "{query}");
        let with_ticket = ticket_protocol_request(&with_query, &ticket);
        assert_eq!(code(refused_request(with_ticket).await), in_url, "{query}");
    }
    // The ticket was not used up: offered as a subprotocol, it connects.
    let mut socket =
        Client::connect_with_ticket_protocol(&app.nodes[0].addr, &alice, &ticket).await;
    socket.round_trip().await;
}
