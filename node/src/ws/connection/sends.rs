//! A connection's sends: held to the user's rate, handed to the
//! connection's pipeline (started by the first), and answered in `send`
//! order as the broker's confirms come.

use std::time::Duration;

use axum::extract::ws::Message;
use confab_common::metric;
use confab_common::wire::{ErrorCode, ServerFrame};
use futures_util::{Sink, Stream, StreamExt};

use crate::send::authorize::Denied;
use crate::send::{Pipeline, SendInFlight, SendRequest, Sender};
use crate::ws::command;
use crate::ws::connection::{Connection, MAX_IN_FLIGHT};
use crate::ws::end::{Disconnect, close};
use crate::ws::throttle::Admit;

/// How long `send`s in flight may take to be confirmed when the node stops.
const FINISH_GRACE: Duration = Duration::from_secs(2);

impl<R, W> Connection<R, W>
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    /// Hands a send to the pipeline, within the user's rate (the
    /// contract's step 4: over it, the send is held and the socket not
    /// read until the rate allows it) and with a body (step 5).
    pub(super) async fn submit(&mut self, request: SendRequest) -> Result<(), Disconnect> {
        let wait = self.ctx.rate.send_wait(self.ctx.user);
        match self.throttle.offer(request, wait) {
            Admit::Now(request) => self.start(request).await,
            Admit::Held => {
                metrics::counter!(metric::SENDS_THROTTLED).increment(1);
                Ok(())
            }
            Admit::TooLong => {
                metrics::counter!(metric::THROTTLED_CLOSES).increment(1);
                Err(Disconnect::Close(
                    close::POLICY,
                    "sending too fast for too long",
                ))
            }
        }
    }

    /// The held send, once the rate allows it.
    pub(super) async fn release(&mut self) -> Result<(), Disconnect> {
        let wait = self.ctx.rate.send_wait(self.ctx.user);
        match self.throttle.release(wait) {
            Some(request) => self.start(request).await,
            None => Ok(()),
        }
    }

    /// Starts a send that the rate allowed.
    async fn start(&mut self, request: SendRequest) -> Result<(), Disconnect> {
        let request = match command::non_empty(request) {
            Ok(request) => request,
            Err(refusal) => return self.refuse(refusal).await,
        };
        let (path, ctx, key) = (&self.ctx.sends, &self.ctx, self.key);
        let sends = self.sends.get_or_insert_with(|| {
            let sender = Sender {
                user: ctx.user,
                origin: key,
                device: ctx.device.clone(),
            };
            Pipeline::start(path.clone(), sender, MAX_IN_FLIGHT)
        });
        match sends.submit(request) {
            Ok(()) => {
                self.in_flight += 1;
                Ok(())
            }
            // Only if the pipeline task died: the client sends again.
            Err(refused) => {
                tracing::warn!("send pipeline stopped");
                let Denied { code, message } = Denied::UNAVAILABLE;
                self.answer_now(refused.id, code, message).await
            }
        }
    }

    async fn answer_now(
        &mut self,
        id: String,
        code: ErrorCode,
        message: &'static str,
    ) -> Result<(), Disconnect> {
        metric::send_refused(code);
        let frame = ServerFrame::error(Some(id), code, message);
        Ok(self.writer.frame(&frame).await?)
    }

    /// A send went out (or was refused): its answer waits its turn, and
    /// its message is never written back to this connection.
    pub(super) fn take_answer(&mut self, in_flight: SendInFlight) {
        if let Some(msg_id) = in_flight.msg_id {
            self.writer.sent(msg_id);
        }
        self.answers.push_back(in_flight.answer);
    }

    pub(super) async fn on_answer(&mut self, answer: &ServerFrame) -> Result<(), Disconnect> {
        self.in_flight -= 1;
        Ok(self.writer.frame(answer).await?)
    }

    /// Gives `send`s in flight a moment to be confirmed, so that their `sent`
    /// reaches the client before the socket closes.
    pub(super) async fn finish(&mut self) {
        let deadline = tokio::time::sleep(FINISH_GRACE);
        tokio::pin!(deadline);
        while self.in_flight > 0 {
            tokio::select! {
                () = &mut deadline => break,
                Some(in_flight) = Pipeline::next_answer(&mut self.sends) => self.take_answer(in_flight),
                Some(answer) = self.answers.next() => {
                    if self.on_answer(&answer).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}
