//! WebSocket clients of `GET /ws`: connecting (optionally from a chosen
//! source address, bound before connecting), and the frames of the contract
//! the bench sends and reads.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// An open WebSocket to a node.
pub type Ws = WebSocketStream<TcpStream>;

/// Where to open WebSockets: `ws://host:port/ws`, resolved once.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    addr: SocketAddr,
}

impl Endpoint {
    /// The WebSocket endpoint of the node or gateway at `base` (`http://…`).
    pub async fn of(base: &url::Url) -> anyhow::Result<Self> {
        if base.scheme() != "http" {
            bail!(
                "{base}: only plain http:// targets are supported (point at the listener, not at TLS)"
            );
        }
        let host = base.host_str().context("the URL has no host")?;
        let port = base.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        let mut url = base.clone();
        url.set_path("/ws");
        url.set_query(None);
        let url = url.as_str().replacen("http://", "ws://", 1);
        Ok(Self { url, addr })
    }

    /// The endpoints of every base URL.
    pub async fn all(bases: &[url::Url]) -> anyhow::Result<Vec<Self>> {
        let mut out = Vec::with_capacity(bases.len());
        for base in bases {
            out.push(Self::of(base).await?);
        }
        Ok(out)
    }

    /// Opens a WebSocket authenticated with `token` (header, not query), from
    /// `source` if given.
    pub async fn connect(
        &self,
        token: &str,
        source: Option<IpAddr>,
        config: WebSocketConfig,
    ) -> anyhow::Result<Ws> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .context("building the upgrade request")?;
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).context("token header")?,
        );
        open(self.addr, source, request, config).await
    }
}

/// Connects to `addr`, from `source` if given, and upgrades with `request`.
/// Nagle is off: the bench measures latency.
pub async fn open(
    addr: SocketAddr,
    source: Option<IpAddr>,
    request: Request,
    config: WebSocketConfig,
) -> anyhow::Result<Ws> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .context("creating a socket")?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding {ip}"))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .context("WebSocket upgrade")?;
    Ok(ws)
}

/// Client buffers for connections that only send small frames: tungstenite
/// allocates its read buffer up front, so 100,000 idle connections with the
/// default 128 KiB would reserve 12 GiB of address space in the bench alone.
pub fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Client buffers for traffic. tungstenite (0.29, `read_in`) zero-fills its
/// read buffer up to its full size before every read, so the default
/// 128 KiB cost a 128 KiB memset per read: the largest item of the load
/// generator's own profile, and CPU taken from the servers it shares the
/// cores with. 16 KiB holds a burst of frames; more takes another read.
/// Every scenario that carries messages (Confab's and the XMPP peer's) uses
/// these, so both sides pay the same.
pub fn traffic_buffers() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(16 * 1024)
}

/// Whom a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    User(i64),
    Group(i64),
}

/// A `send` frame. `body` is written as is: bench bodies contain only ASCII
/// letters, digits and dots, nothing JSON needs escaped.
pub fn send_frame(id: u64, to: To, body: &str) -> String {
    let to = match to {
        To::User(u) => format!(r#"{{"user":{u}}}"#),
        To::Group(g) => format!(r#"{{"group":{g}}}"#),
    };
    format!(r#"{{"type":"send","id":"{id}","to":{to},"body":"{body}"}}"#)
}

/// An `ack` frame (at most 1,000 ids, the contract's limit).
pub fn ack_frame(msg_ids: &[u64]) -> String {
    let ids: Vec<String> = msg_ids.iter().map(|id| format!("\"{id}\"")).collect();
    format!(r#"{{"type":"ack","msg_ids":[{}]}}"#, ids.join(","))
}

/// The frames the server writes, with the fields the bench reads.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Sent {
        id: String,
        msg_id: String,
    },
    Message {
        msg_id: String,
        body: String,
    },
    Error {
        id: Option<String>,
        code: String,
    },
    Pong,
    /// A frame type v1 may add: ignored, as the contract asks.
    #[serde(other)]
    Other,
}

impl ServerFrame {
    /// Parses one text frame.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        serde_json::from_str(text).with_context(|| format!("not a server frame: {text}"))
    }
}

/// A message id as a number (they travel as strings).
pub fn msg_id(text: &str) -> anyhow::Result<u64> {
    text.parse()
        .with_context(|| format!("msg_id {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_the_contracts() {
        let send: serde_json::Value =
            serde_json::from_str(&send_frame(7, To::Group(3), "a.b")).unwrap_or_default();
        assert_eq!(
            send,
            serde_json::json!({"type":"send","id":"7","to":{"group":3},"body":"a.b"})
        );
        let ack: serde_json::Value = serde_json::from_str(&ack_frame(&[1, 2])).unwrap_or_default();
        assert_eq!(ack, serde_json::json!({"type":"ack","msg_ids":["1","2"]}));
        assert!(matches!(
            ServerFrame::parse(r#"{"type":"sent","id":"7","msg_id":"9","ts":1}"#),
            Ok(ServerFrame::Sent { .. })
        ));
        assert!(matches!(
            ServerFrame::parse(r#"{"type":"typing","who":1}"#),
            Ok(ServerFrame::Other)
        ));
    }
}
