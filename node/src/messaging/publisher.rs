//! Publishes envelopes to `input` with publisher confirms, on one long-lived
//! channel that is re-opened (with the broker connection, if need be) when
//! it breaks.

use std::time::Duration;

use confab_common::envelope::Envelope;
use confab_common::topology::{self, Topology};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation};

/// Why a message is not (known to be) in the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot reach the broker: {0}")]
    Connect(String),
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused the message")]
    Nacked,
    #[error("the input queue does not exist")]
    Unroutable,
    #[error("no confirm within {0:?}")]
    Timeout(Duration),
    #[error("cannot encode the envelope: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The node's publisher.
pub struct Publisher {
    pool: deadpool_lapin::Pool,
    topology: Topology,
    timeout: Duration,
    /// The channel in use and the pooled connection it lives on. A std mutex,
    /// held only to clone or replace the handle, never across an await.
    current: std::sync::Mutex<Option<(Channel, std::sync::Arc<deadpool_lapin::Object>)>>,
    /// Serializes re-connecting, so that a broken channel is replaced once.
    reconnecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher that waits at most `timeout` for each confirm.
    pub fn new(pool: deadpool_lapin::Pool, topology: Topology, timeout: Duration) -> Self {
        Self {
            pool,
            topology,
            timeout,
            current: std::sync::Mutex::new(None),
            reconnecting: tokio::sync::Mutex::new(()),
        }
    }

    /// Publishes `envelope` (persistent, mandatory) and returns a future that
    /// resolves once the broker confirmed it. Messages published by one
    /// caller in sequence reach `input` in that order.
    pub async fn publish(
        &self,
        envelope: &Envelope,
    ) -> Result<impl Future<Output = Result<(), PublishError>> + use<>, PublishError> {
        let payload = serde_json::to_vec(envelope)?;
        let channel = self.channel().await?;
        let confirm = channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(self.topology.input()),
                BasicPublishOptions {
                    // Unroutable (no `input` queue) comes back instead of
                    // being dropped with an ack.
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &payload,
                topology::persistent_json(),
            )
            .await;
        let confirm = match confirm {
            Ok(confirm) => confirm,
            Err(e) => {
                self.forget(&channel);
                return Err(e.into());
            }
        };
        let timeout = self.timeout;
        Ok(async move {
            match tokio::time::timeout(timeout, confirm).await {
                Err(_) => Err(PublishError::Timeout(timeout)),
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishError::Unroutable),
                Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
                // Confirms are always selected on our channels.
                Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::Nacked),
            }
        })
    }

    /// Opens the channel now (and declares `input`), so that a broker that is
    /// down at start shows in the logs at once.
    pub async fn warm_up(&self) -> Result<(), PublishError> {
        self.channel().await.map(|_| ())
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        if let Some(channel) = self.healthy() {
            return Ok(channel);
        }
        let _guard = self.reconnecting.lock().await;
        if let Some(channel) = self.healthy() {
            return Ok(channel);
        }
        let connection = self
            .pool
            .get()
            .await
            .map_err(|e| PublishError::Connect(e.to_string()))?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.topology.declare_input(&channel).await?;
        *self.lock() = Some((channel.clone(), std::sync::Arc::new(connection)));
        Ok(channel)
    }

    fn healthy(&self) -> Option<Channel> {
        self.lock()
            .as_ref()
            .filter(|(channel, _)| channel.status().connected())
            .map(|(channel, _)| channel.clone())
    }

    fn forget(&self, broken: &Channel) {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|(c, _)| c.id() == broken.id()) {
            *current = None;
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(Channel, std::sync::Arc<deadpool_lapin::Object>)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}
