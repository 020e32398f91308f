//! What travels through RabbitMQ: an [`Input`] from a node to the
//! dispatcher on `input` (a message to append to a log, or a signal to pass
//! on), a [`ToNode`] from the dispatcher to a node's queue. All JSON.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::presence::ConnKey;
use crate::wire::{MessagePayload, Target};

/// A message accepted by a node: the sender is the token's user, the id and
/// time were stamped by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub message: MessagePayload,
    /// The connection it came from: it gets `sent`, never the message.
    pub origin: ConnKey,
    /// The device that connection is: a replay never writes the message
    /// back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// What a user did that the other participants' devices (and the user's
/// own other devices) are told of, unstored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum SignalKind {
    /// Read `conv` up to `seq` (the node stored the read position first).
    Read { conv: Target, seq: i64 },
    /// Typing in `conv` (already throttled by the node).
    Typing { conv: Target },
    /// The user's first device connected (`true`) or last one went.
    Presence { online: bool },
}

/// A signal about `from`, from its connection `origin` if a connection
/// sent it; `conv` is as `from` sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub from: UserId,
    pub origin: Option<ConnKey>,
    #[serde(flatten)]
    pub kind: SignalKind,
}

/// A frame the node built for some users (a social event): the dispatcher
/// only finds where they are connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub users: Vec<UserId>,
    /// The server frame, as JSON text.
    pub notify: String,
}

/// One item of `input`. Untagged: an [`Envelope`] is what it always was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Message(Envelope),
    Signal(Signal),
    Notify(Notify),
}

/// A logged message for some users connected to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The message, with its `seq`.
    pub message: MessagePayload,
    /// The conversation's internal id (the key of device positions).
    pub conv: i64,
    /// Who gets it: the recipients and the sender (for their other devices).
    pub recipients: Vec<UserId>,
    /// The sending connection: it only learns the message's position.
    pub origin: ConnKey,
}

/// A frame for some users connected to one node, written as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The server frame, as JSON text.
    pub frame: String,
    pub recipients: Vec<UserId>,
    /// A connection that must not get it (the one the signal came from).
    pub except: Option<ConnKey>,
}

/// One item of a node's queue. Untagged: a [`Delivery`] is what it always was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToNode {
    Delivery(Delivery),
    Notice(Notice),
}
