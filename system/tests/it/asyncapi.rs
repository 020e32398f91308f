//! The AsyncAPI document of the WebSocket protocol, as a node serves it,
//! against the wire types: it lists every frame type in each direction,
//! every event kind, error code and close code, and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use confab_common::wire::{ClientFrame, ErrorCode, EventKind, ServerFrame};
use confab_node::ws::end::close;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

/// `node`, or what its `$ref` (a local JSON pointer) points at in `doc`.
fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(reference) = node["$ref"].as_str() {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("not a local $ref: {reference}"));
        node = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {reference} does not resolve"));
    }
    node
}

/// The payload schemas of the messages of the operations with this
/// `action`, by wire `type`. The document is the server's: it `receive`s
/// client frames and `send`s server frames.
fn frames<'a>(doc: &'a Value, action: &str) -> BTreeMap<&'a str, &'a Value> {
    let mut frames = BTreeMap::new();
    let operations = doc["operations"].as_object().expect("operations");
    for operation in operations.values().filter(|o| o["action"] == action) {
        for message in operation["messages"].as_array().expect("messages") {
            let payload = resolve(doc, &resolve(doc, message)["payload"]);
            // The `event` frame is a oneOf of one schema per kind.
            let first = payload["oneOf"].get(0).map_or(payload, |s| resolve(doc, s));
            let name = first["properties"]["type"]["const"]
                .as_str()
                .unwrap_or_else(|| panic!("a message without a `type` constant: {message}"));
            assert!(
                frames.insert(name, payload).is_none(),
                "{name} listed twice"
            );
        }
    }
    frames
}

/// The strings of a list.
fn strings(values: impl IntoIterator<Item = &'static str>) -> BTreeSet<&'static str> {
    values.into_iter().collect()
}

#[tokio::test]
async fn the_asyncapi_document_lists_exactly_the_wire_types() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(Method::GET, "/api/asyncapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(doc["asyncapi"], "3.0.0");

    let client = frames(&doc, "receive");
    let server = frames(&doc, "send");
    assert_eq!(
        client.keys().copied().collect::<BTreeSet<_>>(),
        strings(ClientFrame::TYPES)
    );
    let mut server_types = strings(ServerFrame::TYPES);
    server_types.insert("event");
    assert_eq!(
        server.keys().copied().collect::<BTreeSet<_>>(),
        server_types
    );
    let channel_messages = doc["channels"]["ws"]["messages"].as_object().unwrap();
    assert_eq!(channel_messages.len(), client.len() + server.len());

    let kinds: BTreeSet<&str> = server["event"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| {
            resolve(&doc, kind)["properties"]["kind"]["const"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(kinds, strings(EventKind::ALL.map(EventKind::as_str)));

    let codes: BTreeSet<&str> = resolve(&doc, &server["error"]["properties"]["code"])["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    assert_eq!(codes, strings(ErrorCode::FRAME.map(ErrorCode::as_str)));

    let closes: BTreeSet<u64> = doc["channels"]["ws"]["x-close-codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|close| close["code"].as_u64().unwrap())
        .collect();
    assert_eq!(closes, close::ALL.map(u64::from).into());
}
