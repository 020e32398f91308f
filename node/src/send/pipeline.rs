//! One connection's sends, one at a time and in order (so that a sender's
//! messages reach `input` in the order it sent them): claim the client id,
//! authorize, publish. Each request yields an [`Answer`], a future that
//! resolves to the `sent` or `error` frame once the broker's confirm (or
//! its failure) is known; the connection writes answers in request order.
//!
//! Every step here is bounded: Redis and Postgres by their client timeouts,
//! the publish by the broker bound and the confirm by `PUBLISH_TIMEOUT_MS`.
//! A step that stalls holds up this connection's later sends, never its
//! reads, pings or deliveries, which the connection's loop serves
//! meanwhile.
//!
//! The pipeline's task runs [`Sends`]: the [`SendPath`] on the node, an
//! in-memory double in the connection loop's unit tests. The trait is
//! called once per pipeline, so a send costs nothing more for it.

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use confab_common::envelope::{Envelope, Input};
use confab_common::metric::Stage;
use confab_common::presence::ConnKey;
use confab_common::wire::{ErrorCode, MessagePayload, ServerFrame, Target};
use confab_common::{DeviceName, MessageId, MessageIdGenerator, UserId, metric};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use crate::send::authorize::{Authorizer, Denied};
use crate::send::dedup::{Claim, Dedup, Seen};
use crate::send::publisher::Publisher;

/// The answer to one `send`: resolves to its `sent` or `error` frame.
pub type Answer = Pin<Box<dyn Future<Output = ServerFrame> + Send>>;

/// What the pipeline hands back for one `send`, as soon as it is published
/// (before the confirm): the message id it went out under, if it went out
/// (or had gone out before), and the answer to wait for.
pub struct SendInFlight {
    pub msg_id: Option<MessageId>,
    pub answer: Answer,
}

impl std::fmt::Debug for SendInFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendInFlight")
            .field("msg_id", &self.msg_id)
            .finish_non_exhaustive()
    }
}

/// A `send` that passed the frame checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// The client's id for the message.
    pub id: String,
    pub to: Target,
    pub body: String,
}

/// A pipeline's requests, each with when it was handed over (Unix µs),
/// which its message's stages are measured from.
pub type Requests = mpsc::Receiver<(SendRequest, i64)>;

/// What runs a connection's sends.
pub trait Sends: Send + Sync + Debug {
    /// Runs the sends of `sender`'s connection until `requests` closes,
    /// one at a time, handing each answer to `answers` in request order.
    fn run_until_closed(
        &self,
        sender: Sender,
        requests: Requests,
        answers: mpsc::Sender<SendInFlight>,
    ) -> BoxFuture<'_, ()>;
}

impl Sends for SendPath {
    fn run_until_closed(
        &self,
        sender: Sender,
        mut requests: Requests,
        answers: mpsc::Sender<SendInFlight>,
    ) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            while let Some((request, read_us)) = requests.recv().await {
                let answer = self.send(&sender, request, read_us).await;
                if answers.send(answer).await.is_err() {
                    break;
                }
            }
        })
    }
}

/// What the send pipeline needs; shared by every connection of the node.
#[derive(Debug, Clone)]
pub struct SendPath {
    pub dedup: Dedup,
    pub authorizer: Authorizer,
    pub publisher: Arc<Publisher>,
    pub ids: Arc<MessageIdGenerator>,
}

/// One connection's pipeline: a task of its own, started by the
/// connection's first `send` (an idle connection costs no task), ended with
/// the connection.
#[derive(Debug)]
pub struct Pipeline {
    /// Each request with when it was handed over (Unix µs), which its
    /// message's stages are measured from.
    requests: mpsc::Sender<(SendRequest, i64)>,
    answers: mpsc::Receiver<SendInFlight>,
    _task: AbortOnDropHandle<()>,
}

impl Pipeline {
    /// Starts `sender`'s pipeline on `path`; the caller keeps at most
    /// `in_flight` requests unanswered, so neither side waits for room.
    pub fn start(path: Arc<dyn Sends>, sender: Sender, in_flight: usize) -> Self {
        let (requests, requests_rx) = mpsc::channel(in_flight);
        let (answers_tx, answers) = mpsc::channel(in_flight);
        let task = tokio::spawn(async move {
            path.run_until_closed(sender, requests_rx, answers_tx).await;
        });
        Self {
            requests,
            answers,
            _task: AbortOnDropHandle::new(task),
        }
    }

    /// Hands `request` over; gives it back only if the task died.
    pub fn submit(&self, request: SendRequest) -> Result<(), SendRequest> {
        self.requests
            .try_send((request, metric::now_us()))
            .map_err(|e| e.into_inner().0)
    }

    /// The next answer; never resolves before a pipeline started.
    pub async fn next_answer(pipeline: &mut Option<Self>) -> Option<SendInFlight> {
        match pipeline {
            Some(pipeline) => pipeline.answers.recv().await,
            None => std::future::pending().await,
        }
    }
}

/// Who sends: the token's user, on which connection, from which device.
#[derive(Debug, Clone)]
pub struct Sender {
    pub user: UserId,
    pub origin: ConnKey,
    pub device: DeviceName,
}

impl SendPath {
    /// One send, up to its publish; `read_us` is when it was read (Unix
    /// µs), which its stages are measured from.
    pub async fn send(&self, sender: &Sender, request: SendRequest, read_us: i64) -> SendInFlight {
        let SendRequest { id, to, body } = request;
        let user = sender.user;
        // The client id first: a repeat of a confirmed send gets its `sent`
        // even if the sender may no longer write there (the first one may
        // well have been delivered).
        let lookup = self.authorizer.lookup(user, to);
        let now = confab_common::ids::now_ms();
        let claimed = self
            .dedup
            .claim(user, &id, self.ids.next_id(), now, &lookup)
            .await;
        let (claim, cached) = match claimed {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "dedup unavailable");
                return unsent(refused(id, Denied::UNAVAILABLE));
            }
        };
        let (msg_id, ts) = claim.message();
        if let Seen::Sent { .. } = claim.seen() {
            // Confirmed before: the same answer, no second message.
            let answer = ready(ServerFrame::Sent { id, msg_id, ts });
            return SendInFlight {
                msg_id: Some(msg_id),
                answer,
            };
        }
        if let Err(denied) = self.authorizer.authorize(user, to, cached).await {
            claim.release().await;
            return unsent(refused(id, denied));
        }
        Stage::Claimed.reached(Some(read_us));
        let message = MessagePayload {
            msg_id,
            from: user,
            to,
            body,
            ts,
            seq: None,
        };
        let envelope = Envelope {
            message,
            origin: sender.origin,
            device: Some(sender.device.clone()),
            read_us: Some(read_us),
        };
        SendInFlight {
            msg_id: Some(msg_id),
            answer: self.publish(envelope, id, claim).await,
        }
    }

    /// Publishes and returns the answer that waits for the confirm.
    async fn publish(&self, envelope: Envelope, id: String, claim: Claim) -> Answer {
        let msg_id = envelope.message.msg_id;
        let ts = envelope.message.ts;
        let read_us = envelope.read_us;
        match self.publisher.publish(&Input::Message(envelope)).await {
            Ok(confirm) => {
                let published = Instant::now();
                Box::pin(async move {
                    let outcome = confirm.await;
                    metrics::histogram!(metric::PUBLISH_CONFIRM_SECONDS)
                        .record(published.elapsed().as_secs_f64());
                    match outcome {
                        Ok(()) => {
                            Stage::Confirmed.reached(read_us);
                            metrics::counter!(metric::MESSAGES_ACCEPTED).increment(1);
                            claim.confirmed();
                            ServerFrame::Sent { id, msg_id, ts }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, msg_id = %msg_id, "publish not confirmed");
                            refused(id, NOT_CONFIRMED).await
                        }
                    }
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot publish");
                refused(id, NOT_CONFIRMED)
            }
        }
    }
}

/// The broker did not take the message: the client sends again, same id
/// (the claim stays pending, so the same `msg_id` is published again).
const NOT_CONFIRMED: Denied = Denied {
    code: ErrorCode::Unavailable,
    message: "the message was not confirmed by the broker; send again with the same id",
};

/// The answer to a send that did not go out.
fn unsent(answer: Answer) -> SendInFlight {
    SendInFlight {
        msg_id: None,
        answer,
    }
}

fn ready(frame: ServerFrame) -> Answer {
    Box::pin(std::future::ready(frame))
}

/// The `error` answer to a send, counted under its code.
fn refused(id: String, denied: Denied) -> Answer {
    metric::send_refused(denied.code);
    ready(ServerFrame::error(Some(id), denied.code, denied.message))
}
