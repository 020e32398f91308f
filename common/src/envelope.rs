//! What travels through RabbitMQ: an [`Input`] from a node to the
//! dispatcher on an `input` shard (a message to append to a log, or a
//! signal to pass on), a [`Bundle`] from the dispatcher to a node's queue:
//! everything one batch has for that node, in one AMQP message. All JSON.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ids::{ConvId, ConvKey, DeviceName, MessageId, Seq, UserId};
use crate::presence::ConnKey;
use crate::wire::{MessagePayload, ServerFrame, Target};

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
    pub device: Option<DeviceName>,
    /// When the node read the `send` (Unix µs): what every stage of the
    /// message's trip is measured from (`metric::Stage`). Diagnostics only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_us: Option<i64>,
}

/// What a user did that the other participants' devices (and the user's
/// own other devices) are told of, unstored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum SignalKind {
    /// Read `conv` up to `seq` (the node stored the read position first).
    Read { conv: Target, seq: Seq },
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

/// One item of `input`. Untagged: an [`Envelope`] is what it always was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Message(Envelope),
    Signal(Signal),
    Notice(Notice),
}

impl Input {
    /// The items of one AMQP message of an input shard: a node publishes
    /// one item, or (when several were waiting) a JSON array of them, in
    /// the order they were handed to its publisher.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Input>, serde_json::Error> {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice(bytes),
            _ => serde_json::from_slice::<Input>(bytes).map(|item| vec![item]),
        }
    }

    /// What the item is about, which picks its `input` shard: a message's or
    /// a receipt's conversation; for presence and social events, which are
    /// about users rather than a conversation, the first user's own pair.
    pub fn shard_key(&self) -> ConvKey {
        match self {
            Input::Message(e) => e.message.to.conv_of(e.message.from),
            Input::Signal(s) => match s.kind {
                SignalKind::Read { conv, .. } | SignalKind::Typing { conv } => conv.conv_of(s.from),
                SignalKind::Presence { .. } => ConvKey::direct(s.from, s.from),
            },
            Input::Notice(n) => {
                let first = n.users.first().copied().unwrap_or(UserId(0));
                ConvKey::direct(first, first)
            }
        }
    }
}

/// A logged message for some users connected to one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The `message` frame, with its `seq`, encoded once by the dispatcher
    /// for every node: the node writes it to sockets as it is.
    pub frame: Box<RawValue>,
    pub msg_id: MessageId,
    /// The conversation's internal id (the key of device positions).
    pub conv: ConvId,
    /// The message's place in its conversation.
    pub seq: Seq,
    /// When the node accepted the message (Unix ms).
    pub ts: i64,
    /// Who gets it: the recipients and the sender (for their other devices).
    #[serde(alias = "recipients")]
    pub users: Vec<UserId>,
    /// The sending connection: it only learns the message's position.
    pub origin: ConnKey,
    /// When the node read the `send` (Unix µs), for the stage metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_us: Option<i64>,
}

impl Delivery {
    /// The encoded `message` frame of `message` (which has its `seq`).
    pub fn frame_of(message: &MessagePayload) -> Box<RawValue> {
        let json = ServerFrame::Message(message.clone()).to_json();
        // A frame is always a JSON object; `to_json` cannot produce
        // anything else.
        RawValue::from_string(json).unwrap_or_else(|_| empty_object())
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_default()
}

/// A frame for some users, written to their sockets as it is (never
/// stored): a social event a node built (on `input`), or what the
/// dispatcher made of a signal; the dispatcher splits it by node (in a
/// [`Bundle`], `users` are then that node's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The server frame, as JSON text. (`notify` is its name in items a
    /// node of the previous version left on `input`.)
    #[serde(alias = "notify")]
    pub frame: String,
    /// Whose devices get it. (`recipients` in bundles of the previous
    /// version.)
    #[serde(alias = "recipients")]
    pub users: Vec<UserId>,
    /// A connection that must not get it (the one the signal came from).
    #[serde(default)]
    pub except: Option<ConnKey>,
}

/// One AMQP message of a node's queue: what one dispatcher batch has for
/// that node — its messages in routing order, then its notices.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Bundle {
    #[serde(default)]
    pub deliveries: Vec<Delivery>,
    #[serde(default)]
    pub notices: Vec<Notice>,
}

impl Bundle {
    /// How many items it carries.
    pub fn len(&self) -> usize {
        self.deliveries.len() + self.notices.len()
    }

    /// Whether it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_the_previous_version_left_in_the_queues_still_decode() {
        let old_input = br#"{"users":[1,2],"notify":"{\"type\":\"event\"}"}"#;
        assert_eq!(
            Input::decode_all(old_input).unwrap(),
            [Input::Notice(Notice {
                frame: r#"{"type":"event"}"#.into(),
                users: vec![UserId(1), UserId(2)],
                except: None,
            })]
        );
        let old_bundle = br#"{"notices":[{"frame":"{}","recipients":[3],"except":null}]}"#;
        let bundle: Bundle = serde_json::from_slice(old_bundle).unwrap();
        assert_eq!(bundle.notices[0].users, [UserId(3)]);
    }
}
