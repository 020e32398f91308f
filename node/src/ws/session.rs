//! One WebSocket connection, from upgrade to close: replay of the user's
//! inbox, then one loop that `select!`s over the client's frames, the hub's
//! deliveries, publisher confirms, heartbeats and shutdown.
//!
//! Order: the connection is registered (hub, then presence) *before* the
//! inbox is read, and deliveries that arrive meanwhile wait in the hub queue.
//! Every stored message therefore reaches this session either through the
//! replay or as a delivery; the session writes each message id once, so
//! whichever copy comes second is dropped.

use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use confab_common::envelope::Envelope;
use confab_common::wire::{ClientFrame, MessagePayload, ServerFrame, Target};
use confab_common::{UserId, inbox};
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};

use crate::messaging::dedup::Seen;
use crate::state::AppState;
use crate::ws::authorize::authorize;
use crate::ws::hub::{Outbound, Registration};
use crate::ws::recent::RecentIds;

/// Close codes this endpoint uses.
mod close {
    /// The node is shutting down: reconnect (to another node).
    pub const GOING_AWAY: u16 = 1001;
    /// Repeated abuse.
    pub const POLICY: u16 = 1008;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// A dependency is down, or the client reads too slowly: try again later.
    pub const TRY_AGAIN: u16 = 1013;
}

/// Most `send`s awaiting their broker confirm per connection; past this the
/// session stops reading until some are confirmed.
const MAX_IN_FLIGHT: usize = 256;
/// Most ids in one `ack` frame.
const MAX_ACK_IDS: usize = 1000;
/// Deliveries written before one flush.
const WRITE_BATCH: usize = 64;

/// The answer to one `send`, once its confirm (or failure) is known.
type Pending = Pin<Box<dyn Future<Output = ServerFrame> + Send>>;

/// Why the session loop ended.
enum End {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

/// Runs one connection of `user` until it closes.
pub async fn run(state: AppState, socket: WebSocket, user: UserId) {
    let registration = state.hub.register(user);
    let key = registration.key;
    metrics::gauge!("confab_ws_connections").increment(1.0);
    let mut session = Session {
        socket,
        user,
        last_seq: 0,
        recent: RecentIds::default(),
        pending: FuturesOrdered::new(),
        last_heard: Instant::now(),
        invalid_frames: 0,
        limiter: governor::RateLimiter::direct(state.ws.send_quota),
        state,
    };
    tracing::debug!(user_id = user.0, conn = %key, "connected");
    let end = session.serve(registration).await;
    let Session {
        mut socket, state, ..
    } = session;
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
    state.hub.unregister(user, key);
    metrics::gauge!("confab_ws_connections").decrement(1.0);
    if let Err(e) = state.presence.unregister(user, key).await {
        tracing::warn!(error = %e, user_id = user.0, "cannot remove presence; it lapses with the node record");
    }
    tracing::debug!(user_id = user.0, conn = %key, "disconnected");
}

struct Session {
    state: AppState,
    socket: WebSocket,
    user: UserId,
    /// How far the inbox has been read (by the replay and catch-ups; live
    /// deliveries do not move it): a catch-up reads after it, so a message
    /// that was stored but never pushed is found even if later ones were.
    last_seq: i64,
    /// The ids of the messages written lately, so that one delivered twice
    /// (by the replay and live, or redelivered after a dispatcher failover)
    /// is written once.
    recent: RecentIds,
    pending: FuturesOrdered<Pending>,
    /// When the client last showed signs of life.
    last_heard: Instant,
    /// Refused frames so far; too many closes the connection.
    invalid_frames: u32,
    /// The connection's send budget.
    limiter: governor::DefaultDirectRateLimiter,
}

impl Session {
    async fn serve(&mut self, registration: Registration) -> End {
        let Registration { key, mut rx, kick } = registration;
        if let Err(e) = self.state.presence.register(&[(self.user, key)]).await {
            tracing::warn!(error = %e, "cannot register presence; closing");
            return End::Close(close::TRY_AGAIN, "presence unavailable; reconnect shortly");
        }
        if let Err(end) = self.catch_up().await {
            return end;
        }
        let limits = self.state.ws.clone();
        let mut ping = tokio::time::interval(limits.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let shutdown = self.state.shutdown.clone();

        loop {
            tokio::select! {
                frame = self.socket.recv(), if self.pending.len() < MAX_IN_FLIGHT => {
                    self.last_heard = Instant::now();
                    let result = match frame {
                        None => return End::Gone,
                        Some(Err(e)) => return too_big_or_gone(e),
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str(), key).await,
                        Some(Ok(Message::Binary(_))) => {
                            self.refuse(None, "invalid_frame", "binary frames are not supported; send JSON text").await
                        }
                        Some(Ok(Message::Close(_))) => return End::Gone,
                        // Pongs (and pings, which the library answers) only prove life.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    };
                    if let Err(end) = result {
                        return end;
                    }
                }
                Some(item) = rx.recv() => {
                    if let Err(end) = self.on_outbound(item, &mut rx).await {
                        return end;
                    }
                }
                Some(answer) = self.pending.next() => {
                    if self.write(&answer).await.is_err() {
                        return End::Gone;
                    }
                }
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > limits.ping_interval * 3 {
                        tracing::debug!(user_id = self.user.0, "no sign of life; closing");
                        return End::Gone;
                    }
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Gone;
                    }
                }
                () = kick.cancelled() => {
                    metrics::counter!("confab_slow_consumer_closes_total").increment(1);
                    return End::Close(close::TRY_AGAIN, "too many undelivered messages; reconnect to resume");
                }
                () = shutdown.cancelled() => {
                    self.finish_pending().await;
                    return End::Close(close::GOING_AWAY, "node shutting down; reconnect");
                }
            }
        }
    }

    /// Gives `send`s already published a moment to be confirmed, so that
    /// their `sent` reaches the client before the socket closes.
    async fn finish_pending(&mut self) {
        let deadline = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(deadline);
        while !self.pending.is_empty() {
            tokio::select! {
                () = &mut deadline => break,
                Some(answer) = self.pending.next() => {
                    if self.write(&answer).await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// Writes the user's inbox after `last_seq`, page by page.
    async fn catch_up(&mut self) -> Result<(), End> {
        let page_size = self.state.ws.replay_page;
        let started = Instant::now();
        let mut replayed = 0u64;
        loop {
            let page = inbox::page(&self.state.db, self.user, self.last_seq, page_size)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot read the inbox; closing");
                    End::Close(close::TRY_AGAIN, "storage unavailable; reconnect shortly")
                })?;
            let full = page.len() as u64 == page_size;
            for (seq, message) in page {
                self.last_seq = seq;
                if !self.recent.insert(message.msg_id) {
                    continue;
                }
                replayed += 1;
                let text: Utf8Bytes = ServerFrame::Message(message).to_json().into();
                self.socket
                    .feed(Message::Text(text))
                    .await
                    .map_err(|_| End::Gone)?;
            }
            self.socket.flush().await.map_err(|_| End::Gone)?;
            if !full {
                if replayed > 0 {
                    metrics::counter!("confab_messages_replayed_total").increment(replayed);
                    metrics::histogram!("confab_replay_seconds")
                        .record(started.elapsed().as_secs_f64());
                }
                return Ok(());
            }
        }
    }

    /// Writes a delivery (and whatever else is already queued) to the socket.
    async fn on_outbound(
        &mut self,
        first: Outbound,
        rx: &mut tokio::sync::mpsc::Receiver<Outbound>,
    ) -> Result<(), End> {
        let mut item = Some(first);
        let mut written = 0;
        while let Some(next) = item.take() {
            match next {
                Outbound::CatchUp => self.catch_up().await?,
                Outbound::Message { text, msg_id, ts } => {
                    // Skipped if written already, by the replay or an
                    // earlier delivery of the same message.
                    if self.recent.insert(msg_id) {
                        self.socket
                            .feed(Message::Text(text))
                            .await
                            .map_err(|_| End::Gone)?;
                        written += 1;
                        metrics::counter!("confab_messages_delivered_total").increment(1);
                        let latency_ms = confab_common::ids::now_ms().saturating_sub(ts).max(0);
                        metrics::histogram!("confab_delivery_latency_seconds")
                            .record(latency_ms as f64 / 1000.0);
                    }
                }
            }
            if written < WRITE_BATCH {
                item = rx.try_recv().ok();
            }
        }
        self.socket.flush().await.map_err(|_| End::Gone)
    }

    async fn on_text(
        &mut self,
        text: &str,
        key: confab_common::presence::ConnKey,
    ) -> Result<(), End> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                let id = client_id_of(text);
                return self
                    .refuse(id, "invalid_frame", format!("not a valid frame: {e}"))
                    .await;
            }
        };
        match frame {
            ClientFrame::Ping => self.write(&ServerFrame::Pong).await.map_err(|_| End::Gone),
            ClientFrame::Ack { msg_ids } => {
                if msg_ids.len() > MAX_ACK_IDS {
                    return self
                        .refuse(
                            None,
                            "invalid_frame",
                            format!("at most {MAX_ACK_IDS} ids per ack"),
                        )
                        .await;
                }
                if !msg_ids.is_empty() {
                    metrics::counter!("confab_acks_total").increment(msg_ids.len() as u64);
                    self.state.acks.send(self.user, msg_ids).await;
                }
                Ok(())
            }
            ClientFrame::Send { id, to, body } => self.on_send(id, to, body, key).await,
        }
    }

    async fn on_send(
        &mut self,
        id: String,
        to: Target,
        body: String,
        key: confab_common::presence::ConnKey,
    ) -> Result<(), End> {
        let id_len = id.chars().count();
        if id_len == 0 || id_len > 64 {
            return self
                .refuse(None, "invalid_frame", "`id` must be 1 to 64 characters")
                .await;
        }
        let max_body = self.state.ws.max_body_chars;
        if body.chars().count() > max_body {
            return self
                .refuse(
                    Some(id),
                    "too_large",
                    format!("a message body is at most {max_body} characters"),
                )
                .await;
        }
        if self.limiter.check().is_err() {
            // Push-back, not abuse: it does not count toward the 1008 limit.
            return self
                .reject(
                    Some(id),
                    "rate_limited",
                    "too many messages; slow down and send again with the same id",
                )
                .await;
        }
        if body.is_empty() {
            return self
                .refuse(Some(id), "invalid_frame", "the body is empty")
                .await;
        }
        // The client id first: a repeat of a confirmed send gets its `sent`
        // even if the sender may no longer write there (the first one may
        // well have been delivered).
        let fresh = self.state.ids.next_id();
        let now = confab_common::ids::now_ms();
        let seen = match self.state.dedup.claim(self.user, &id, fresh, now).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, "dedup unavailable");
                return self
                    .reject(
                        Some(id),
                        "unavailable",
                        "the service is briefly unavailable; send again with the same id",
                    )
                    .await;
            }
        };
        let (msg_id, ts) = match seen {
            Seen::Sent { msg_id, ts } => {
                // Confirmed before: the same answer, no second message.
                self.pending
                    .push_back(Box::pin(std::future::ready(ServerFrame::Sent {
                        id,
                        msg_id,
                        ts,
                    })));
                return Ok(());
            }
            Seen::Pending { msg_id, ts } => (msg_id, ts),
            Seen::New => (fresh, now),
        };
        if let Err((code, message)) = authorize(&self.state, self.user, to).await {
            if seen == Seen::New {
                // Nothing was published under this id: free it for a later send.
                if let Err(e) = self.state.dedup.release(self.user, &id).await {
                    tracing::warn!(error = %e, "cannot release a refused client id");
                }
            }
            return self.reject(Some(id), code, message).await;
        }
        let envelope = Envelope {
            message: MessagePayload {
                msg_id,
                from: self.user,
                to,
                body,
                ts,
            },
            origin: key,
        };
        match self.state.publisher.publish(&envelope).await {
            Ok(confirm) => {
                let dedup = self.state.dedup.clone();
                let user = self.user;
                let published = Instant::now();
                self.pending.push_back(Box::pin(async move {
                    let outcome = confirm.await;
                    metrics::histogram!("confab_publish_confirm_seconds").record(published.elapsed().as_secs_f64());
                    match outcome {
                        Ok(()) => {
                            metrics::counter!("confab_messages_accepted_total").increment(1);
                            // Recorded on its own task: this future is only
                            // polled by the session loop, which may itself be
                            // waiting on Redis behind this very request.
                            let client_id = id.clone();
                            tokio::spawn(async move {
                                if let Err(e) = dedup.confirm(user, &client_id, msg_id, ts).await {
                                    // The message is durable; a repeat of this id
                                    // publishes the same msg_id again, harmlessly.
                                    tracing::warn!(error = %e, "cannot record the confirm");
                                }
                            });
                            ServerFrame::Sent { id, msg_id, ts }
                        }
                        Err(e) => {
                            metrics::counter!("confab_sends_refused_total", "reason" => "unavailable").increment(1);
                            tracing::warn!(error = %e, msg_id = %msg_id, "publish not confirmed");
                            unavailable(id)
                        }
                    }
                }));
                Ok(())
            }
            Err(e) => {
                metrics::counter!("confab_sends_refused_total", "reason" => "unavailable")
                    .increment(1);
                tracing::warn!(error = %e, "cannot publish");
                let answer = unavailable(id);
                self.write(&answer).await.map_err(|_| End::Gone)
            }
        }
    }

    /// Answers a refused send without counting it as abuse.
    async fn reject(
        &mut self,
        id: Option<String>,
        code: &'static str,
        message: &'static str,
    ) -> Result<(), End> {
        metrics::counter!("confab_sends_refused_total", "reason" => code).increment(1);
        self.write(&ServerFrame::error(id, code, message))
            .await
            .map_err(|_| End::Gone)
    }

    /// Answers a malformed frame; many of them close the connection.
    async fn refuse(
        &mut self,
        id: Option<String>,
        code: &'static str,
        message: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Result<(), End> {
        self.invalid_frames += 1;
        metrics::counter!("confab_sends_refused_total", "reason" => code).increment(1);
        self.write(&ServerFrame::error(id, code, message))
            .await
            .map_err(|_| End::Gone)?;
        if self.invalid_frames > self.state.ws.max_invalid_frames {
            return Err(End::Close(close::POLICY, "too many invalid frames"));
        }
        Ok(())
    }

    async fn write(&mut self, frame: &ServerFrame) -> Result<(), axum::Error> {
        self.socket
            .send(Message::Text(frame.to_json().into()))
            .await
    }
}

fn unavailable(id: String) -> ServerFrame {
    ServerFrame::error(
        Some(id),
        "unavailable",
        "the message was not confirmed by the broker; send again with the same id",
    )
}

/// The `id` of a frame that did not parse, if it has a readable one.
fn client_id_of(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = value.get("id")?.as_str()?;
    (!id.is_empty() && id.chars().count() <= 64).then(|| id.to_owned())
}

/// A frame over the limit closes with 1009; any other read error means the
/// connection is gone.
fn too_big_or_gone(e: axum::Error) -> End {
    let too_big = e
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        End::Close(close::TOO_BIG, "frame too large")
    } else {
        End::Gone
    }
}
