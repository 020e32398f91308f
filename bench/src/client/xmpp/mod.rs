//! An XMPP client over WebSocket (RFC 7395), the peer protocol the `xmpp`
//! scenario drives ejabberd with: the WebSocket subprotocol `xmpp`, the
//! stream `<open/>`, SASL PLAIN, the stream restart, resource binding, the
//! session if the server requires it, and initial presence. After
//! [`XmppEndpoint::login`] the socket carries [`stanza::chat`] messages.

pub mod stanza;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::client::ws::{self, Ws};
use stanza::{Features, Stanza};

/// How long a login (every step from the TCP connect to the presence) may
/// take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Where to log in: a `ws://…` URL, resolved once, and the XMPP domain.
#[derive(Debug, Clone)]
pub struct XmppEndpoint {
    url: String,
    addr: SocketAddr,
    domain: String,
}

impl XmppEndpoint {
    /// The endpoint at `url` (`ws://host:port/path`) serving `domain`.
    pub async fn new(url: &url::Url, domain: &str) -> anyhow::Result<Self> {
        if url.scheme() != "ws" {
            bail!("{url}: only plain ws:// URLs are supported");
        }
        let host = url.host_str().context("the URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        Ok(Self {
            url: url.to_string(),
            addr,
            domain: domain.to_owned(),
        })
    }

    /// The bare JID of `user` on this domain.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// Opens a WebSocket and logs `user` in with `resource`; the session is
    /// available (initial presence sent) when this returns.
    pub async fn login(&self, user: &str, password: &str, resource: &str) -> anyhow::Result<Ws> {
        tokio::time::timeout(LOGIN_TIMEOUT, self.login_steps(user, password, resource))
            .await
            .with_context(|| format!("{user}: no login within {LOGIN_TIMEOUT:?}"))?
            .with_context(|| format!("logging in {}", self.jid(user)))
    }

    async fn login_steps(&self, user: &str, password: &str, resource: &str) -> anyhow::Result<Ws> {
        let mut ws = self.connect().await?;
        let features = self.open_stream(&mut ws).await?;
        if !features.mechanisms.iter().any(|m| m == "PLAIN") {
            bail!(
                "the server offers no SASL PLAIN over this stream (it offers {:?})",
                features.mechanisms
            );
        }
        write(&mut ws, stanza::auth_plain(user, password)).await?;
        match read(&mut ws).await? {
            Stanza::Success => {}
            Stanza::Failure(condition) => bail!(
                "SASL PLAIN refused ({condition}): is the user registered? \
                 (`bench/peers/ejabberd.sh users N` registers b1..bN)"
            ),
            other => bail!("expected the SASL outcome, got {other:?}"),
        }
        let features = self.open_stream(&mut ws).await?;
        if !features.bind {
            bail!("the server offers no resource binding");
        }
        write(&mut ws, stanza::bind("bind", resource)).await?;
        expect_result(&mut ws, "bind").await?;
        if features.session_required {
            write(&mut ws, stanza::session("session")).await?;
            expect_result(&mut ws, "session").await?;
        }
        write(&mut ws, stanza::presence().to_owned()).await?;
        Ok(ws)
    }

    /// The WebSocket, asking for the `xmpp` subprotocol (tungstenite checks
    /// that the server accepted it).
    async fn connect(&self) -> anyhow::Result<Ws> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .context("building the upgrade request")?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("xmpp"));
        ws::open(self.addr, None, request, ws::traffic_buffers()).await
    }

    /// Writes `<open/>`, reads the server's and its stream features.
    async fn open_stream(&self, ws: &mut Ws) -> anyhow::Result<Features> {
        write(ws, stanza::open(&self.domain)).await?;
        match read(ws).await? {
            Stanza::Open => {}
            other => bail!("expected the stream's <open/>, got {other:?}"),
        }
        match read(ws).await? {
            Stanza::Features(features) => Ok(features),
            other => bail!("expected <stream:features>, got {other:?}"),
        }
    }
}

/// Writes one element as a text frame.
pub async fn write(ws: &mut Ws, element: String) -> anyhow::Result<()> {
    ws.send(Message::text(element))
        .await
        .context("writing to the WebSocket")
}

/// Reads the next element, skipping WebSocket pings and pongs.
async fn read(ws: &mut Ws) -> anyhow::Result<Stanza> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Stanza::parse(text.as_str()),
            Some(Ok(Message::Close(close))) => bail!("the server closed the WebSocket: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("reading the WebSocket"),
            None => bail!("the WebSocket ended"),
        }
    }
}

/// Reads until the answer to iq `id`; an error answer (or a stream error)
/// fails.
async fn expect_result(ws: &mut Ws, id: &str) -> anyhow::Result<()> {
    loop {
        match read(ws).await? {
            Stanza::Iq { id: got, kind } if got == id => {
                return match kind.as_str() {
                    "result" => Ok(()),
                    _ => Err(anyhow::anyhow!("the server answered {id} with {kind}")),
                };
            }
            Stanza::StreamError(condition) => bail!("stream error: {condition}"),
            Stanza::Close => bail!("the server closed the stream"),
            _ => {}
        }
    }
}
