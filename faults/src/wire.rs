//! What a simulated client says on its socket: the upgrade request (token
//! in a header), a `send`, and the conversation a `message` belongs to.

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::ledger::{self, Key};

/// The conversation of a `message` frame as `me` sees it: `u{other}` or
/// `g{group}`.
pub fn conversation_of(me: i64, frame: &Value) -> Option<String> {
    if let Some(group) = frame["to"]["group"].as_i64() {
        return Some(format!("g{group}"));
    }
    let from = frame["from"].as_i64()?;
    let other = if from == me {
        frame["to"]["user"].as_i64()?
    } else {
        from
    };
    Some(format!("u{other}"))
}

pub async fn send(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    id: &str,
    to: &Value,
    key: &Key,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let frame = json!({"type": "send", "id": id, "to": to, "body": ledger::body(key)});
    ws.send(Message::text(frame.to_string())).await
}

/// A WebSocket upgrade of `url` with `token` as a bearer header (the token
/// never goes in a URL, where logs would keep it).
pub fn ws_request(
    url: &str,
    token: &str,
) -> anyhow::Result<tokio_tungstenite::tungstenite::handshake::client::Request> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}
