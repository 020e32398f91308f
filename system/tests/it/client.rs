//! A WebSocket client speaking the contract, for the real-time tests.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{TestApp, TestUser};

/// How long a test waits for a frame it expects.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// One connection.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while looking for another kind.
    backlog: VecDeque<Value>,
    /// The close code, once the server closed.
    pub closed: Option<u16>,
    pub user: TestUser,
}

impl Client {
    /// Connects `user` to node `node` of `app` with the token in the header.
    pub async fn connect(app: &TestApp, node: usize, user: &TestUser) -> Self {
        Self::connect_to(&app.nodes[node].addr, user).await
    }

    /// Connects `user`'s device `device` to node `node` of `app`.
    pub async fn connect_device(app: &TestApp, node: usize, user: &TestUser, device: &str) -> Self {
        let addr = &app.nodes[node].addr;
        Self::connect_url(&format!("ws://{addr}/ws?device={device}"), user).await
    }

    /// Connects `user` to `addr` (a node or the gateway).
    pub async fn connect_to(addr: &str, user: &TestUser) -> Self {
        Self::connect_url(&format!("ws://{addr}/ws"), user).await
    }

    /// Connects `user` to `addr` as browsers do: the ticket offered as the
    /// subprotocol `confab.ticket.<ticket>` next to `confab.v1`, nothing
    /// secret in the URL. Asserts that the server selected `confab.v1`.
    pub async fn connect_with_ticket_protocol(addr: &str, user: &TestUser, ticket: &str) -> Self {
        let request = ticket_protocol_request(&format!("ws://{addr}/ws"), ticket);
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connect");
        let selected = response.headers().get("Sec-WebSocket-Protocol");
        assert_eq!(selected.and_then(|v| v.to_str().ok()), Some("confab.v1"));
        Self::wrap(ws, user)
    }

    async fn connect_url(url: &str, user: &TestUser) -> Self {
        Self::open(with_bearer(url, &user.token), user).await
    }

    async fn open(request: Request, user: &TestUser) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connect");
        Self::wrap(ws, user)
    }

    fn wrap(ws: WebSocketStream<MaybeTlsStream<TcpStream>>, user: &TestUser) -> Self {
        Self {
            ws,
            backlog: VecDeque::new(),
            closed: None,
            user: user.clone(),
        }
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send");
    }

    /// Sends a `send` frame without waiting.
    pub async fn send_message(&mut self, id: &str, to: Value, body: &str) {
        self.send_json(json!({"type": "send", "id": id, "to": to, "body": body}))
            .await;
    }

    /// Sends a message and waits for its `sent`; returns the `msg_id`.
    pub async fn send_confirmed(&mut self, id: &str, to: Value, body: &str) -> String {
        self.send_message(id, to, body).await;
        let sent = self
            .next_where(|f| f["id"] == id && (f["type"] == "sent" || f["type"] == "error"))
            .await;
        assert_eq!(sent["type"], "sent", "{sent}");
        sent["msg_id"].as_str().unwrap().to_owned()
    }

    /// Sends a message until the server confirms it, sending it again with
    /// the same id while the answer is `unavailable` (as the contract tells
    /// clients to); returns the `msg_id`.
    pub async fn send_until_sent(&mut self, id: &str, to: Value, body: &str) -> String {
        for _ in 0..600 {
            self.send_message(id, to.clone(), body).await;
            let answer = self
                .next_where(|f| f["id"] == id && (f["type"] == "sent" || f["type"] == "error"))
                .await;
            if answer["type"] == "sent" {
                return answer["msg_id"].as_str().unwrap().to_owned();
            }
            assert_eq!(answer["code"], "unavailable", "{answer}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{id} was never confirmed");
    }

    /// Sends one message per body to `to`, back to back in windows of 100
    /// (a client that never reads its socket would stall its own session),
    /// and returns the `msg_id`s in order once every one is confirmed.
    pub async fn send_burst(&mut self, prefix: &str, to: Value, bodies: &[String]) -> Vec<String> {
        let mut msg_ids = Vec::with_capacity(bodies.len());
        for (w, window) in bodies.chunks(100).enumerate() {
            for (i, body) in window.iter().enumerate() {
                self.send_message(&format!("{prefix}-{w}-{i}"), to.clone(), body)
                    .await;
            }
            for i in 0..window.len() {
                let id = format!("{prefix}-{w}-{i}");
                let sent = self.next_where(|f| f["id"] == id.as_str()).await;
                assert_eq!(sent["type"], "sent", "{sent}");
                msg_ids.push(sent["msg_id"].as_str().unwrap().to_owned());
            }
        }
        msg_ids
    }

    /// The next frame from the server (pings and pongs skipped), or `None`
    /// if the connection closed or nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(frame) = self.backlog.pop_front() {
            return Some(frame);
        }
        self.read_within(wait).await
    }

    async fn read_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    return Some(
                        serde_json::from_str(text.as_str()).expect("server frames are JSON"),
                    );
                }
                Message::Close(frame) => {
                    self.closed = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    return None;
                }
                _ => continue,
            }
        }
    }

    /// The next frame; panics if none comes.
    pub async fn next(&mut self) -> Value {
        self.next_within(PATIENCE)
            .await
            .expect("a frame from the server")
    }

    /// The first frame matching `pred`, keeping the others for later.
    pub async fn next_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos).unwrap();
        }
        loop {
            let frame = self.read_within(PATIENCE).await.unwrap_or_else(|| {
                panic!(
                    "no matching frame; closed: {:?}; backlog: {:?}",
                    self.closed, self.backlog
                )
            });
            if pred(&frame) {
                return frame;
            }
            self.backlog.push_back(frame);
        }
    }

    /// The next `message` frame.
    pub async fn next_message(&mut self) -> Value {
        self.next_where(|f| f["type"] == "message").await
    }

    /// `n` `message` frames, in arrival order.
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while let Some(pos) = self.backlog.iter().position(|f| f["type"] == "message") {
            if out.len() == n {
                return out;
            }
            out.push(self.backlog.remove(pos).unwrap());
        }
        while out.len() < n {
            match self.read_within(PATIENCE).await {
                Some(frame) if frame["type"] == "message" => out.push(frame),
                Some(frame) => self.backlog.push_back(frame),
                None => panic!(
                    "got {} of {n} messages; closed: {:?}; last: {:?}",
                    out.len(),
                    self.closed,
                    out.last()
                ),
            }
        }
        out
    }

    /// Asserts that no `message` frame arrives within `wait`.
    pub async fn expect_no_message(&mut self, wait: Duration) {
        if let Some(frame) = self.backlog.iter().find(|f| f["type"] == "message") {
            panic!("unexpected message: {frame}");
        }
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(frame) = self
            .read_within(deadline - tokio::time::Instant::now())
            .await
        {
            assert_ne!(frame["type"], "message", "unexpected message: {frame}");
            self.backlog.push_back(frame);
        }
    }

    /// Whether a frame read earlier (and kept) matches `pred`.
    pub fn backlog_has(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.backlog.iter().any(pred)
    }

    /// Acks `msg_ids`.
    pub async fn ack(&mut self, msg_ids: &[String]) {
        self.send_json(json!({"type": "ack", "msg_ids": msg_ids}))
            .await;
    }

    /// Sends `ping` and waits for `pong`: a round trip that proves every
    /// frame sent before it was processed.
    pub async fn round_trip(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        self.next_where(|f| f["type"] == "pong").await;
    }

    /// Waits for the server to close; returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        while self.closed.is_none() {
            if self.read_within(PATIENCE).await.is_none() && self.closed.is_none() {
                panic!("the connection ended without a close frame");
            }
        }
        self.closed.unwrap()
    }

    /// Closes from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The status and body of a refused WebSocket upgrade of `url` (with
/// `token` as a bearer header, if given); panics if it was accepted.
pub async fn refused(url: &str, token: Option<&str>) -> (u16, Value) {
    let request = match token {
        Some(token) => with_bearer(url, token),
        None => url.into_client_request().unwrap(),
    };
    refused_request(request).await
}

/// A WebSocket request for `url` with `Authorization: Bearer <token>`.
pub fn with_bearer(url: &str, token: &str) -> Request {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A WebSocket request for `url` offering the subprotocols `confab.v1` and
/// `confab.ticket.<ticket>`, as browsers send their ticket.
pub fn ticket_protocol_request(url: &str, ticket: &str) -> Request {
    offering(url, &format!("confab.v1, confab.ticket.{ticket}"))
}

/// A WebSocket request for `url` with `Sec-WebSocket-Protocol: protocols`.
pub fn offering(url: &str, protocols: &str) -> Request {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    request
}

/// The status and body of a refused WebSocket upgrade `request`; panics if
/// it was accepted.
pub async fn refused_request(request: Request) -> (u16, Value) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let body = serde_json::from_slice(body).unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        other => panic!("expected the upgrade to be refused, got {other:?}"),
    }
}

/// The `seq` of each frame.
pub fn seqs(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect()
}

/// `{"user": id}`.
pub fn to_user(user: &TestUser) -> Value {
    json!({"user": user.id.0})
}

/// `{"group": id}`.
pub fn to_group(group: i64) -> Value {
    json!({"group": group})
}

/// The bodies of `frames`.
pub fn bodies(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["body"].as_str().unwrap().to_owned())
        .collect()
}

/// The `msg_id`s of `frames`.
pub fn ids(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["msg_id"].as_str().unwrap().to_owned())
        .collect()
}
