//! What travels through RabbitMQ: an [`Envelope`] from a node to the
//! dispatcher on `input`, a [`Delivery`] from the dispatcher to a node's queue.
//! Both are JSON.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::presence::ConnKey;
use crate::wire::MessagePayload;

/// A message accepted by a node: the sender is the token's user, the id and
/// time were stamped by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub message: MessagePayload,
    /// The connection it came from: the sender's other devices get a copy,
    /// this one does not.
    pub origin: ConnKey,
}

/// One recipient of a [`Delivery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub user: UserId,
    /// The recipient's inbox position of this message; `None` for the
    /// sender's own other devices, which get a live copy that is not stored.
    pub seq: Option<i64>,
}

/// A message for some users connected to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub message: MessagePayload,
    pub recipients: Vec<Recipient>,
    /// The sending connection, which must not get its own message back.
    pub origin: ConnKey,
}
