//! One routing step: a batch of envelopes in, the node deliveries out.
//! Recipients are resolved (group members from the social cache), the batch
//! is stored ([`store`](crate::store), one transaction) *before* presence is
//! read — a recipient who connects after the read finds the message in its
//! replay, one who connected before it is in the presence we read — and the
//! [`plan`](crate::plan) says which node gets what.

use std::collections::{HashMap, HashSet};

use confab_common::envelope::Envelope;
use confab_common::presence::Presence;
use confab_common::social::{SocialCache, SocialError};
use confab_common::topology::Topology;
use confab_common::wire::Target;
use confab_common::{MessageId, UserId, metric};
use sea_orm::{DatabaseConnection, DbErr};

use crate::plan::{self, Facts, Outgoing};
use crate::store::{self, ToStore};

/// A failure of Postgres or Redis: the batch is tried again.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("postgres: {0}")]
    Db(#[from] DbErr),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Social(#[from] SocialError),
}

/// What routing reads and writes.
#[derive(Debug, Clone)]
pub struct Router {
    pub db: DatabaseConnection,
    pub presence: Presence,
    pub social: SocialCache,
    pub topology: Topology,
}

impl Router {
    /// Stores `batch` and says what to publish to which node.
    pub async fn route(&self, batch: &[Envelope]) -> Result<Vec<Outgoing>, RouteError> {
        let recipients = self.recipients(batch).await?;
        let to_store: Vec<ToStore<'_>> = batch
            .iter()
            .zip(&recipients)
            .map(|(envelope, recipients)| ToStore {
                message: &envelope.message,
                recipients,
            })
            .collect();
        let stored = store::store(&self.db, &to_store).await?;
        metrics::counter!(metric::INBOX_STORED).increment(stored.len() as u64);
        let stored: HashMap<(UserId, MessageId), i64> = stored
            .iter()
            .map(|s| ((UserId(s.recipient_id), MessageId(s.msg_id)), s.seq))
            .collect();

        // Where everyone involved is connected: recipients, and senders for
        // the copy their other devices get.
        let mut everyone: HashSet<UserId> = recipients.iter().flatten().copied().collect();
        everyone.extend(batch.iter().map(|e| e.message.from));
        let everyone: Vec<UserId> = everyone.into_iter().collect();
        let located = self.presence.locate(&everyone).await?;
        let facts = Facts {
            batch,
            recipients: &recipients,
            stored: &stored,
            located: &located,
        };
        Ok(plan::plan(facts, &self.topology))
    }

    /// Who each message is stored for: the addressee, or the group's
    /// members but the sender (sorted, for a stable insert order).
    async fn recipients(&self, batch: &[Envelope]) -> Result<Vec<Vec<UserId>>, RouteError> {
        let mut recipients = Vec::with_capacity(batch.len());
        for envelope in batch {
            let m = &envelope.message;
            recipients.push(match m.to {
                Target::User(user) => vec![user],
                Target::Group(group) => match self.social.members(group).await? {
                    Some(members) => {
                        let mut members: Vec<UserId> =
                            members.into_iter().filter(|&u| u != m.from).collect();
                        members.sort_unstable();
                        members
                    }
                    None => {
                        tracing::warn!(msg_id = %m.msg_id, group_id = %group, "group gone before routing; dropped");
                        Vec::new()
                    }
                },
            });
        }
        Ok(recipients)
    }
}
