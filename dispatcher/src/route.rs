//! One routing step: a batch of messages and signals in, the node
//! deliveries out. Audiences are resolved (group members from the social
//! cache), the messages are appended to their logs
//! (`confab_common::log::append`, one statement) *before* presence is read — a device that connects after
//! the read finds the message in its replay, one that connected before it
//! is in the presence we read — and the [`plan`] says which node gets what.

use std::collections::HashSet;

use confab_common::envelope::{Envelope, Notice, Signal, SignalKind};
use confab_common::metric::Stage;
use confab_common::presence::Presence;
use confab_common::social::{SocialCache, SocialError};
use confab_common::topology::Topology;
use confab_common::wire::{ServerFrame, Target};
use confab_common::{GroupId, UserId, metric};
use sea_orm::{DatabaseConnection, DbErr};

use crate::plan::{self, Outgoing, Routed};
use confab_common::log;

/// Groups larger than this get no read receipts of others (each member's
/// own devices still do): a receipt per member per message would be a
/// fan-out of the square of the group's size.
pub const RECEIPT_GROUP_LIMIT: usize = 100;

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
    /// Logs `batch` and says what to publish to which node.
    pub async fn route(
        &self,
        batch: &[Envelope],
        signals: &[Signal],
        notices: &[Notice],
    ) -> Result<Vec<Outgoing>, RouteError> {
        let mut audiences = Vec::with_capacity(batch.len());
        for envelope in batch {
            let m = &envelope.message;
            audiences.push(self.audience(m.from, m.to).await?);
        }
        let messages: Vec<&Envelope> = batch.iter().collect();
        let logged = log::append::append(&self.db, &messages).await?;
        Stage::Appended.reached_all(batch.iter().filter_map(|e| e.read_us));
        metrics::counter!(metric::MESSAGES_LOGGED).increment(logged.len() as u64);
        let mut notices = notices.to_vec();
        for signal in signals {
            notices.extend(self.notices(signal).await?);
        }

        let mut everyone: HashSet<UserId> = audiences.iter().flatten().copied().collect();
        everyone.extend(notices.iter().flat_map(|n| n.users.iter().copied()));
        let everyone: Vec<UserId> = everyone.into_iter().collect();
        let located = self.presence.locate(&everyone).await?;
        Stage::Located.reached_all(batch.iter().filter_map(|e| e.read_us));
        let routed = Routed {
            batch,
            audiences: &audiences,
            logged: &logged,
            notices: &notices,
            located: &located,
        };
        Ok(plan::plan(routed, &self.topology))
    }

    /// Everyone who sees what `from` sends to `to`, `from` included: the
    /// pair, or the group's members (none if the group is gone).
    async fn audience(&self, from: UserId, to: Target) -> Result<Vec<UserId>, RouteError> {
        Ok(match to {
            Target::User(user) => vec![from, user],
            Target::Group(group) => self.members(group).await?,
        })
    }

    async fn members(&self, group: GroupId) -> Result<Vec<UserId>, RouteError> {
        let mut members: Vec<UserId> = self
            .social
            .members(group)
            .await?
            .unwrap_or_default()
            .into_iter()
            .collect();
        members.sort_unstable();
        Ok(members)
    }

    /// The frames a signal turns into, each in its readers' view of the
    /// conversation: in a direct one, `conv.user` is the other side.
    async fn notices(&self, signal: &Signal) -> Result<Vec<Notice>, RouteError> {
        let (from, except) = (signal.from, signal.origin);
        let to = |frame: ServerFrame, users: Vec<UserId>| Notice {
            frame: frame.to_json(),
            users,
            except,
        };
        let (conv, read) = match signal.kind {
            SignalKind::Presence { online } => {
                let friends = self.social.friends(from).await?.into_iter().collect();
                let frame = ServerFrame::Presence { user: from, online };
                return Ok(vec![to(frame, friends)]);
            }
            SignalKind::Read { conv, seq } => (conv, Some(seq)),
            SignalKind::Typing { conv } => (conv, None),
        };
        let frame = |conv: Target| match read {
            Some(seq) => ServerFrame::Read {
                conv,
                user: from,
                seq,
            },
            None => ServerFrame::Typing { conv, user: from },
        };
        let typing = read.is_none();
        Ok(match conv {
            Target::User(peer) => {
                let mut notices = vec![to(frame(Target::User(from)), vec![peer])];
                if !typing {
                    // The reader's other devices.
                    notices.push(to(frame(Target::User(peer)), vec![from]));
                }
                notices
            }
            Target::Group(group) => {
                let mut members = self.members(group).await?;
                if typing {
                    members.retain(|&u| u != from);
                } else if members.len() > RECEIPT_GROUP_LIMIT {
                    members = vec![from];
                }
                vec![to(frame(conv), members)]
            }
        })
    }
}
