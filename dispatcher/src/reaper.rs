//! Presence reaping, a periodic chore of every dispatcher (safe to run on
//! several at once): a node process that died without closing its
//! connections leaves its users "online" until its record lapses; the
//! reaper claims each lapsed record once and tells the friends of users who
//! went offline with it (a `presence` signal through `input`, routed like
//! any other). A claim is made once, so the users it yields are kept until
//! every signal about them is confirmed: a publish that fails, is nacked or
//! comes back unroutable is tried again on the next tick, never dropped.
//! The other chore, retention, is the log's own
//! (`confab_common::log::retention`).

use confab_common::UserId;
use confab_common::broker::{Broker, BrokerError, Confirmed};
use confab_common::envelope::{Input, Signal, SignalKind};
use confab_common::presence::{HEARTBEAT_INTERVAL, Presence};
use confab_common::topology::{self, Topology};
use lapin::options::ConfirmSelectOptions;
use tokio_util::sync::CancellationToken;

/// Why the offline users were not all announced.
#[derive(Debug, thiserror::Error)]
pub enum ReapError {
    #[error("cannot reap presence: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The broker did not take a signal (nacked, or no such `input` shard).
    #[error("a presence signal was not taken: {0:?}")]
    NotTaken(Confirmed),
}

/// Reaps dead node processes' presence and announces who went offline.
#[derive(Debug)]
pub struct Reaper {
    presence: Presence,
    broker: Broker,
    topology: Topology,
    /// Users claimed offline whose signals are not confirmed yet.
    unannounced: Vec<UserId>,
}

impl Reaper {
    pub fn new(presence: Presence, broker: Broker, topology: Topology) -> Self {
        Self {
            presence,
            broker,
            topology,
            unannounced: Vec::new(),
        }
    }

    /// Users claimed offline whose signals are not confirmed yet.
    pub fn unannounced(&self) -> &[UserId] {
        &self.unannounced
    }

    /// One round: claims the lapsed records, then announces every user not
    /// announced yet (this round's and earlier rounds'). On an error the
    /// users stay for the next round.
    pub async fn step(&mut self) -> Result<(), ReapError> {
        let offline = self.presence.reap().await?;
        if !offline.is_empty() {
            tracing::info!(users = offline.len(), "users went offline with a dead node");
        }
        self.unannounced.extend(offline);
        if self.unannounced.is_empty() {
            return Ok(());
        }
        announce_offline(&self.broker, &self.topology, &self.unannounced).await?;
        self.unannounced.clear();
        Ok(())
    }

    /// Runs [`Reaper::step`] every [`HEARTBEAT_INTERVAL`] until `shutdown`.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            if let Err(e) = self.step().await {
                tracing::warn!(
                    error = %e,
                    unannounced = self.unannounced.len(),
                    "presence reaping incomplete; next time"
                );
            }
        }
    }
}

/// Publishes a `presence` signal (offline) for each of `users` to `input`
/// and waits for every confirm.
async fn announce_offline(
    broker: &Broker,
    topology: &Topology,
    users: &[UserId],
) -> Result<(), ReapError> {
    let connection = broker.connection().await?;
    let channel = broker.open_channel(&connection).await?;
    broker
        .bounded(
            "confirm.select",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
    let mut unconfirmed = Vec::with_capacity(users.len());
    for &user in users {
        let signal = Input::Signal(Signal {
            from: user,
            origin: None,
            kind: SignalKind::Presence { online: false },
        });
        let payload = serde_json::to_vec(&signal).unwrap_or_default();
        let shard = topology.input(topology.shard_of(signal.shard_key()));
        let properties = topology::persistent_json();
        unconfirmed.push(
            broker
                .publish(&channel, &shard, &payload, properties)
                .await?,
        );
    }
    let mut outcome = Ok(());
    for publish in unconfirmed {
        match broker
            .bounded("publisher confirm", publish.confirmed())
            .await?
        {
            Confirmed::Acked => {}
            other => outcome = Err(ReapError::NotTaken(other)),
        }
    }
    let _ = broker
        .bounded("channel.close", channel.close(200, "done".into()))
        .await;
    outcome
}

#[cfg(test)]
mod tests;
