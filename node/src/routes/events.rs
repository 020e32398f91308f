//! Social events: a REST change tells the connected devices of the users it
//! concerns, as an `event` frame of the given `kind` that carries what a
//! client needs to render it (`docs/protocol.md` lists them). Best effort,
//! after the change committed: a device that was offline reads the state
//! over REST when it comes back.

use confab_common::UserId;
use confab_common::wire::EventKind;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::state::AppState;

/// Sends `{"type":"event","kind":kind, …payload}` to `users`' devices.
pub async fn send(state: &AppState, users: Vec<UserId>, kind: EventKind, payload: impl Serialize) {
    let mut frame = Map::from_iter([
        ("type".to_owned(), Value::from("event")),
        ("kind".to_owned(), Value::from(kind.as_str())),
    ]);
    if let Ok(Value::Object(fields)) = serde_json::to_value(payload) {
        frame.extend(fields);
    }
    state
        .signals
        .notify(users, Value::Object(frame).to_string())
        .await;
}
