//! The one way Confab talks to RabbitMQ: pooled connections, a bound on
//! every wait for the broker, and the one publish ([`Broker::publish`]):
//! mandatory, with publisher confirms, whose outcome is typed
//! ([`Confirmed`]) so that no caller can take a nack or a return for a
//! success.
//!
//! Why every wait is bounded: lapin has no handshake timeout, and a broker
//! that is booting (`rabbitmqctl start_app`, a restarted container) accepts
//! TCP connections before it answers the AMQP handshake; some of those
//! handshakes are never answered, and `Connection::connect` then waits
//! forever (seen here: 1 to 3 of 20 clients reconnecting through five broker
//! restarts). A process that awaited such a connect without a bound held its
//! publisher (or its queue consumer) hostage for the rest of its life. So a
//! connection attempt, and each broker operation after it (opening a
//! channel, declaring, subscribing, acking, a publish being written), is
//! given [`Broker::timeout`]; past it the attempt is abandoned as failed and
//! the caller's own reconnect loop takes over.

use std::time::Duration;

use deadpool_lapin::PoolError;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};

mod members;
pub mod subscription;

pub use members::Leased;
use members::Members;

/// How often a long-lived channel (a publisher's, a
/// consumer's) is looked at between events, to notice that its connection
/// died without telling us.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why a broker operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No connection could be had: refused, timed out (handshake included),
    /// or the pool is exhausted for longer than the bound.
    #[error("cannot reach RabbitMQ: {0}")]
    Connect(#[from] PoolError),
    /// The broker or the connection failed the operation.
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker did not answer in time; the connection is presumed dead.
    #[error("RabbitMQ did not answer {what} within {after:?}")]
    Timeout { what: &'static str, after: Duration },
}

/// What the broker said of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Routed and taken (written, for a persistent message on a durable
    /// queue).
    Acked,
    /// Unroutable (the queue named does not exist): handed back, stored
    /// nowhere. Carries the routing key.
    Returned(String),
    /// Refused: the broker could not take it (an internal error, a queue
    /// that rejects publishes when full). Nothing is known to be stored.
    Nacked,
}

/// A publish written to its channel, its confirm still to come.
#[derive(Debug)]
#[must_use = "a publish is not done until its confirm is read"]
pub struct Unconfirmed(PublisherConfirm);

impl Unconfirmed {
    /// Waits (without a bound: bound it with [`Broker::bounded`] or a
    /// timeout of the caller's own) for the broker's word on the publish.
    pub async fn confirmed(self) -> lapin::Result<Confirmed> {
        Ok(match self.0.await? {
            Confirmation::Ack(None) => Confirmed::Acked,
            Confirmation::Ack(Some(returned)) => {
                Confirmed::Returned(returned.delivery.routing_key.to_string())
            }
            // Every channel of ours selects confirms: a channel that did
            // not cannot say the message was taken.
            Confirmation::Nack(_) | Confirmation::NotRequested => Confirmed::Nacked,
        })
    }
}

/// Pooled connections to RabbitMQ (one broker, or the members of a
/// cluster) and the bound on every wait for it.
#[derive(Clone)]
pub struct Broker {
    members: Members,
    timeout: Duration,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("members", &self.members)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Connections of `urls` (one AMQP URL, or several separated by
    /// commas: the members of a cluster), named `name` in the management
    /// UI, at most `max_size` of them per member, each wait bounded by
    /// `timeout`.
    pub fn new(
        urls: &str,
        name: &str,
        max_size: usize,
        timeout: Duration,
    ) -> Result<Self, deadpool_lapin::CreatePoolError> {
        Ok(Self {
            members: Members::new(urls, name, max_size, timeout)?,
            timeout,
        })
    }

    /// The bound on each wait for the broker.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection: a live pooled one, or a new one whose handshake
    /// completed within the bound, to the member used last; when that
    /// member cannot give one, to the next that can (and that member is
    /// used from then on).
    pub async fn connection(&self) -> Result<Leased, BrokerError> {
        self.members.connection().await
    }

    /// `connection` failed an operation: it is kept out of its pool, and
    /// its member is no longer the first one tried (see
    /// [`Broker::distrust`]).
    pub fn discard(&self, connection: Leased) {
        let member = connection.member;
        drop(deadpool_lapin::Object::take(connection.object));
        self.distrust(member);
    }

    /// The member `member` failed an operation: its idle pooled
    /// connections are dropped (a broker whose link is cut leaves them
    /// looking open until the heartbeat gives up, and each would cost a
    /// timeout) and the next connection is asked of the next member. A
    /// member that is fine is only left for an equal one: any member of a
    /// cluster serves every queue.
    pub fn distrust(&self, member: usize) {
        self.members.distrust(member);
    }

    /// Awaits the broker operation `what` for at most [`Broker::timeout`].
    pub async fn bounded<T>(
        &self,
        what: &'static str,
        operation: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(BrokerError::Timeout {
                what,
                after: self.timeout,
            }),
        }
    }

    /// Publishes `payload` to the queue `queue` through the default
    /// exchange, within the bound, on `channel` (which has confirms
    /// selected). Always mandatory: a message for a queue that does not
    /// exist comes back as [`Confirmed::Returned`] instead of being dropped
    /// with an ack.
    pub async fn publish(
        &self,
        channel: &Channel,
        queue: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<Unconfirmed, BrokerError> {
        let publish = channel.basic_publish(
            ShortString::from(""),
            ShortString::from(queue),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            payload,
            properties,
        );
        Ok(Unconfirmed(self.bounded("basic.publish", publish).await?))
    }

    /// [`Broker::publish`], then its confirm, each within the bound.
    pub async fn publish_confirmed(
        &self,
        channel: &Channel,
        queue: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<Confirmed, BrokerError> {
        let unconfirmed = self.publish(channel, queue, payload, properties).await?;
        self.bounded("publisher confirm", unconfirmed.confirmed())
            .await
    }

    /// Opens a channel on `connection`, within the bound.
    pub async fn open_channel(
        &self,
        connection: &lapin::Connection,
    ) -> Result<lapin::Channel, BrokerError> {
        self.bounded("channel.open", connection.create_channel())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener that accepts TCP and never says a word: what a booting
    /// broker looks like to a client whose handshake it does not answer.
    async fn silent_broker() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        (format!("amqp://guest:guest@{addr}/%2f"), task)
    }

    #[tokio::test]
    async fn an_unanswered_handshake_fails_within_the_bound() {
        let (url, task) = silent_broker().await;
        let broker = Broker::new(&url, "test", 2, Duration::from_millis(300)).expect("pool");
        // The outer timeout only keeps a regression from hanging the suite;
        // the verdict is the error the pool returns.
        let outcome = tokio::time::timeout(Duration::from_secs(60), broker.connection())
            .await
            .expect("the connect hung: the handshake is not bounded");
        assert!(
            matches!(outcome, Err(BrokerError::Connect(_))),
            "a silent broker must fail the connect"
        );
        // The pool slot was given back: the next attempt fails the same way
        // instead of waiting for a slot a hung attempt still holds.
        for _ in 0..3 {
            let again = tokio::time::timeout(Duration::from_secs(60), broker.connection())
                .await
                .expect("a hung attempt kept its pool slot");
            assert!(again.is_err());
        }
        task.abort();
    }
}
