//! One WebSocket connection, from upgrade to close. The loop only passes
//! things on: client frames are decoded ([`command`](crate::ws::command))
//! and handed to the send pipeline (on a task of its own) or answered; answers, replay
//! pages and hub deliveries go out through the [`Writer`]. The slow work
//! (Redis, Postgres, the broker) runs off the loop, so a stalled dependency
//! never stops a connection from pinging, closing, or (once its replay on
//! connect is written, as the contract says) reading and answering.
//!
//! Order: the connection is registered (hub, then presence) *before* the
//! logs are read, and deliveries wait in the hub queue while a replay runs.
//! Every logged message therefore reaches this connection either through
//! the replay or as a delivery; the writer writes each conversation in
//! `seq` order, each message once, and asks for a catch-up when a delivery
//! shows that some were missed.
//!
//! The loop is generic over the socket's two halves (axum's `WebSocket`
//! split in production), as in axum's `testing-websockets` example, and
//! reaches the node's services only through the traits its
//! [`ConnectionContext`] holds, so its rules are unit-tested over channels
//! (`connection/tests.rs`). Its sends (the rate, the pipeline, answers in
//! `send` order) are in `connection/sends.rs`.

use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use confab_common::metric;
use confab_common::presence::ConnKey;
use confab_common::wire::ServerFrame;
use futures_util::stream::FuturesOrdered;
use futures_util::{Sink, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::delivery::hub::{Outbound, Registration};
use crate::send::authorize::Denied;
use crate::send::{Answer, Pipeline};
use crate::ws::command::{self, Command, Refusal};
use crate::ws::context::ConnectionContext;
use crate::ws::end::{Disconnect, close, too_big_or_gone};
use crate::ws::in_flight::SignalsInFlight;
use crate::ws::replay::{Page, Reader, Replay};
use crate::ws::throttle::Throttle;
use crate::ws::writer::{AfterWrite, Writer};

/// Most `send`s in the pipeline or awaiting their confirm per connection;
/// past this the connection stops reading until some are answered.
const MAX_IN_FLIGHT: usize = 256;

/// Serves an upgraded socket until it closes.
pub async fn run(ctx: ConnectionContext, socket: WebSocket) {
    let (sink, stream) = socket.split();
    serve(ctx, stream, sink).await;
}

/// Serves one connection of `ctx.user` over `reader` and `sink`.
pub async fn serve<R, W>(ctx: ConnectionContext, reader: R, sink: W)
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let registration = ctx.hub.register(ctx.user, ctx.session);
    let (user, key) = (ctx.user, registration.key);
    metrics::gauge!(metric::WS_CONNECTIONS).increment(1.0);
    tracing::debug!(user_id = user.0, conn = %key, "connected");
    let mut connection = Connection::new(ctx, reader, sink, registration);
    if let Disconnect::Close(code, reason) = connection.run_until_closed().await {
        connection.writer.close(code, reason).await;
    }
    let ctx = connection.ctx;
    let last_here = ctx.hub.unregister(user, key);
    metrics::gauge!(metric::WS_CONNECTIONS).decrement(1.0);
    match ctx.presence.disconnect(user, key, last_here).await {
        Ok(true) => ctx.announce(false),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, user_id = user.0, "cannot remove presence; it lapses with the node record");
        }
    }
    tracing::debug!(user_id = user.0, conn = %key, "disconnected");
}

struct Connection<R, W> {
    ctx: ConnectionContext,
    key: ConnKey,
    reader: R,
    writer: Writer<W>,
    replay: Replay,
    /// Deliveries from the hub.
    outbound: mpsc::Receiver<Outbound>,
    /// Cancelled by the hub when `outbound` overflowed.
    kick: CancellationToken,
    sends: Option<Pipeline>,
    /// Answers in `send` order, resolving as confirms come.
    answers: FuturesOrdered<Answer>,
    /// `send`s submitted and not yet answered.
    in_flight: usize,
    /// `read`/`typing` frames in flight.
    signals: SignalsInFlight,
    /// Whether client frames are read: not before the replay on connect has
    /// been written (the contract: a client's frames are answered after its
    /// replay, so a `pong` marks the replay's end).
    reading: bool,
    /// When the client last showed signs of life.
    last_heard: Instant,
    /// Refused frames so far; too many closes the connection.
    invalid_frames: u32,
    /// Cancelled when the connection's session is revoked.
    revoked: CancellationToken,
    /// A `send` over the user's rate, held (and the socket not read) until
    /// the rate allows it.
    throttle: Throttle,
}

impl<R, W> Connection<R, W>
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    fn new(ctx: ConnectionContext, reader: R, sink: W, registration: Registration) -> Self {
        let Registration {
            key,
            rx,
            kick,
            revoked,
        } = registration;
        let logs = Reader {
            logs: ctx.logs.clone(),
            turns: ctx.replays.clone(),
            user: ctx.user,
            device: ctx.device.clone(),
            page_size: ctx.ws.replay_page,
            max_devices: ctx.ws.devices_per_user,
        };
        Self {
            replay: Replay::new(logs),
            writer: Writer::new(sink, ctx.user, ctx.device.clone()),
            signals: SignalsInFlight::new(ctx.signals.clone(), ctx.user, key),
            throttle: Throttle::new(ctx.ws.throttled_close),
            ctx,
            key,
            reader,
            outbound: rx,
            kick,
            sends: None,
            answers: FuturesOrdered::new(),
            in_flight: 0,
            reading: false,
            last_heard: Instant::now(),
            invalid_frames: 0,
            revoked,
        }
    }

    /// Registers the connection as present, starts the replay, then serves
    /// it until it ends.
    async fn run_until_closed(&mut self) -> Disconnect {
        match self.ctx.presence.connect(self.ctx.user, self.key).await {
            Ok(true) => self.ctx.announce(true),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot register presence; closing");
                return Disconnect::Close(
                    close::TRY_AGAIN,
                    "presence unavailable; reconnect shortly",
                );
            }
        }
        // Revoked between the token check and the registration: the hub
        // could not close it then.
        if self.ctx.revocations.is_revoked(&self.ctx.session) {
            self.revoked.cancel();
        }
        self.replay.start(Vec::new());
        let mut ping = tokio::time::interval(self.ctx.ws.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let (kick, shutdown) = (self.kick.clone(), self.ctx.shutdown.clone());
        let revoked = self.revoked.clone();
        loop {
            let release_at = self.throttle.release_at();
            let step = tokio::select! {
                frame = self.reader.next(), if self.reading && self.in_flight < MAX_IN_FLIGHT && release_at.is_none() => self.on_frame(frame).await,
                () = tokio::time::sleep_until(release_at.unwrap_or_else(Instant::now).into()), if release_at.is_some() => self.release().await,
                Some(in_flight) = Pipeline::next_answer(&mut self.sends) => {
                    self.take_answer(in_flight);
                    Ok(())
                }
                Some(answer) = self.answers.next() => self.on_answer(&answer).await,
                Some(outcome) = self.signals.next() => self.on_signalled(outcome).await,
                page = self.replay.next_page() => self.on_page(page).await,
                Some(item) = self.outbound.recv(), if !self.replay.is_running() => self.on_delivery(item).await,
                _ = ping.tick() => self.on_tick().await,
                () = kick.cancelled() => {
                    metrics::counter!(metric::SLOW_CONSUMER_CLOSES).increment(1);
                    Err(Disconnect::Close(close::TRY_AGAIN, "too many undelivered messages; reconnect to resume"))
                }
                () = revoked.cancelled() => {
                    Err(Disconnect::Close(close::REVOKED, "session revoked; log in again"))
                }
                () = shutdown.cancelled() => {
                    self.finish().await;
                    Err(Disconnect::Close(close::GOING_AWAY, "node shutting down; reconnect"))
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
    ) -> Result<(), Disconnect> {
        self.last_heard = Instant::now();
        match frame {
            None | Some(Ok(Message::Close(_))) => Err(Disconnect::Gone),
            Some(Err(e)) => Err(too_big_or_gone(e)),
            Some(Ok(Message::Text(text))) => {
                match command::decode(text.as_str(), self.ctx.ws.max_body_chars) {
                    Ok(command) => self.on_command(command).await,
                    Err(refusal) => self.refuse(refusal).await,
                }
            }
            Some(Ok(Message::Binary(_))) => self.refuse(Refusal::binary()).await,
            // Pongs (and pings, which the library answers) only prove life.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
        }
    }

    async fn on_command(&mut self, command: Command) -> Result<(), Disconnect> {
        match command {
            Command::Ping => Ok(self.writer.frame(&ServerFrame::Pong).await?),
            Command::Ack(msg_ids) => {
                if !msg_ids.is_empty() {
                    let acked = msg_ids.len();
                    let resolved = self.writer.resolve(msg_ids);
                    (self.ctx.acks).offer(self.ctx.user, &self.ctx.device, acked, resolved);
                }
                Ok(())
            }
            Command::Send(request) => self.submit(request).await,
            Command::Read { conv, seq } => {
                let taken = self.signals.read(conv, seq);
                self.on_signalled(taken).await
            }
            Command::Typing(conv) => {
                let taken = self.signals.typing(conv);
                self.on_signalled(taken).await
            }
        }
    }

    async fn on_signalled(&mut self, outcome: Result<(), Denied>) -> Result<(), Disconnect> {
        match outcome {
            Ok(()) => Ok(()),
            Err(denied) => {
                metric::send_refused(denied.code);
                let frame = ServerFrame::error(None, denied.code, denied.message);
                Ok(self.writer.frame(&frame).await?)
            }
        }
    }

    async fn on_page(&mut self, page: Result<Page, sea_orm::DbErr>) -> Result<(), Disconnect> {
        let page = page.map_err(|e| {
            tracing::warn!(error = %e, "cannot read the logs; closing");
            Disconnect::Close(close::TRY_AGAIN, "storage unavailable; reconnect shortly")
        })?;
        let written = self.writer.page(&page).await?;
        self.replay.advance(&page, written, self.writer.positions());
        if !self.reading && !self.replay.is_running() {
            // The replay on connect is written: now the client's frames.
            self.reading = true;
            self.last_heard = Instant::now();
        }
        Ok(())
    }

    async fn on_delivery(&mut self, item: Outbound) -> Result<(), Disconnect> {
        if self.writer.deliveries(item, &mut self.outbound).await? == AfterWrite::CatchUp {
            self.replay.start(self.writer.positions());
        }
        Ok(())
    }

    async fn on_tick(&mut self) -> Result<(), Disconnect> {
        // A client is not judged silent while it is not being read.
        let read = self.reading && self.throttle.release_at().is_none();
        if read && self.last_heard.elapsed() > self.ctx.ws.ping_interval * 3 {
            tracing::debug!(user_id = self.ctx.user.0, "no sign of life; closing");
            return Err(Disconnect::Gone);
        }
        Ok(self.writer.ping().await?)
    }

    /// Answers a malformed frame; many of them close the connection.
    async fn refuse(&mut self, refusal: Refusal) -> Result<(), Disconnect> {
        self.invalid_frames += 1;
        metric::send_refused(refusal.code);
        self.writer.frame(&refusal.into_frame()).await?;
        if self.invalid_frames > self.ctx.ws.max_invalid_frames {
            return Err(Disconnect::Close(close::POLICY, "too many invalid frames"));
        }
        Ok(())
    }
}

mod sends;
#[cfg(test)]
mod tests;
