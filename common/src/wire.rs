//! The WebSocket wire contract (`docs/protocol.md`): what clients send
//! ([`ClientFrame`]) and what the server answers ([`ServerFrame`]). One JSON
//! object per text frame, tagged by `type`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::ids::{ConvKey, GroupId, MessageId, Seq, UserId};

mod error;
mod event;
pub use error::ErrorCode;
pub use event::EventKind;

/// Whom a message is for: `{"user": 7}` or `{"group": 3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    User(UserId),
    Group(GroupId),
}

impl Target {
    /// The conversation that `from` writing to this target is in.
    pub fn conv_of(self, from: UserId) -> ConvKey {
        match self {
            Target::User(to) => ConvKey::direct(from, to),
            Target::Group(group) => ConvKey::Group(group),
        }
    }
}

/// A frame from a client. Unknown fields are ignored (a `from` field in
/// particular: the sender is always the token's user).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Send a message. `id` is the client's own id for it (1-64 characters);
    /// sending the same `id` again yields the same `msg_id` and no second
    /// delivery.
    Send {
        id: String,
        to: Target,
        body: String,
    },
    /// This device has these messages: its delivery position in their
    /// conversations moves past them.
    Ack { msg_ids: Vec<MessageId> },
    /// The user has read `conv` up to `seq` (a read position never moves
    /// back).
    Read { conv: Target, seq: Seq },
    /// The user is typing in `conv` (forwarded, never stored).
    Typing { conv: Target },
    /// Application-level keepalive; answered with `pong`.
    Ping,
}

impl ClientFrame {
    /// Every client frame's wire `type`, in declaration order.
    pub const TYPES: [&'static str; 5] = ["send", "ack", "read", "typing", "ping"];

    /// This frame's wire `type`. The match is exhaustive and each arm
    /// indexes [`Self::TYPES`] with a constant, so a new variant does not
    /// compile until it has an arm, nor that arm until the name is listed
    /// (an index past the end is a compile error).
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Send { .. } => Self::TYPES[0],
            Self::Ack { .. } => Self::TYPES[1],
            Self::Read { .. } => Self::TYPES[2],
            Self::Typing { .. } => Self::TYPES[3],
            Self::Ping => Self::TYPES[4],
        }
    }
}

/// A message as recipients see it (the `message` frame's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePayload {
    pub msg_id: MessageId,
    pub from: UserId,
    pub to: Target,
    pub body: String,
    /// Unix milliseconds at which the node accepted the message.
    pub ts: i64,
    /// The message's position in its conversation (1, 2, 3, … with no
    /// gaps), set by the dispatcher when it appends the message to the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The message with client id `id` is durably in the broker.
    Sent {
        id: String,
        msg_id: MessageId,
        ts: i64,
    },
    /// A message for this user.
    Message(MessagePayload),
    /// A frame was refused; `id` is the client id of the refused `send`, if
    /// it could be read.
    Error {
        id: Option<String>,
        code: ErrorCode,
        message: Cow<'static, str>,
    },
    /// The answer to `ping`.
    Pong,
    /// `user` has read `conv` up to `seq` (`conv` as the receiving user
    /// sees it: for a direct conversation, the other side).
    Read {
        conv: Target,
        user: UserId,
        seq: Seq,
    },
    /// `user` is typing in `conv`.
    Typing { conv: Target, user: UserId },
    /// A friend's first device connected, or their last one went.
    Presence { user: UserId, online: bool },
}

impl ServerFrame {
    /// Every server frame's wire `type` built from this enum, in declaration
    /// order. (The `event` frame is written as JSON by the REST routes, with
    /// an [`EventKind`].)
    pub const TYPES: [&'static str; 7] = [
        "sent", "message", "error", "pong", "read", "typing", "presence",
    ];

    /// This frame's wire `type`; exhaustive over [`Self::TYPES`] like
    /// [`ClientFrame::type_name`].
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Sent { .. } => Self::TYPES[0],
            Self::Message(_) => Self::TYPES[1],
            Self::Error { .. } => Self::TYPES[2],
            Self::Pong => Self::TYPES[3],
            Self::Read { .. } => Self::TYPES[4],
            Self::Typing { .. } => Self::TYPES[5],
            Self::Presence { .. } => Self::TYPES[6],
        }
    }

    /// An `error` frame.
    pub fn error(
        id: Option<String>,
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Error {
            id,
            code,
            message: message.into(),
        }
    }

    /// This frame as JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys,
        // no types whose `Serialize` can error.
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from(
                r#"{"type":"error","id":null,"code":"internal","message":"serialization failed"}"#,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_parse_as_the_contract_writes_them() {
        let send: ClientFrame = serde_json::from_value(
            json!({"type": "send", "id": "c1", "to": {"user": 7}, "body": "hi", "from": 99}),
        )
        .unwrap();
        assert_eq!(
            send,
            ClientFrame::Send {
                id: "c1".into(),
                to: Target::User(UserId(7)),
                body: "hi".into()
            }
        );
        let ack: ClientFrame =
            serde_json::from_value(json!({"type": "ack", "msg_ids": ["12", "13"]})).unwrap();
        assert_eq!(
            ack,
            ClientFrame::Ack {
                msg_ids: vec![MessageId(12), MessageId(13)]
            }
        );
        let read: ClientFrame =
            serde_json::from_value(json!({"type": "read", "conv": {"group": 3}, "seq": 9}))
                .unwrap();
        assert_eq!(
            read,
            ClientFrame::Read {
                conv: Target::Group(GroupId(3)),
                seq: Seq(9)
            }
        );
        for bad in [
            json!({"type": "read", "conv": {"group": 3}}),
            json!({"type": "typing"}),
            json!({"type": "send", "id": "c1", "to": {"user": 7, "group": 3}, "body": "x"}),
            json!({"type": "send", "id": "c1", "to": {"user": "7"}, "body": "x"}),
            json!({"type": "send", "id": "c1", "to": {"channel": 7}, "body": "x"}),
            json!({"type": "ack", "msg_ids": [12]}),
            json!({"type": "shout"}),
            json!({"id": "c1"}),
        ] {
            assert!(
                serde_json::from_value::<ClientFrame>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn server_frames_serialize_as_the_contract_writes_them() {
        let frame = ServerFrame::Message(MessagePayload {
            msg_id: MessageId(42),
            from: UserId(3),
            to: Target::Group(GroupId(5)),
            body: "hello".into(),
            ts: 1000,
            seq: Some(Seq(7)),
        });
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            json!({"type": "message", "msg_id": "42", "from": 3, "to": {"group": 5}, "body": "hello", "ts": 1000, "seq": 7})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::Pong).unwrap(),
            json!({"type": "pong"})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::error(None, ErrorCode::InvalidFrame, "bad")).unwrap(),
            json!({"type": "error", "id": null, "code": "invalid_frame", "message": "bad"})
        );
    }

    #[test]
    fn type_names_are_the_wire_types() {
        // One object with every field parses as each type (the others are ignored).
        let client = ClientFrame::TYPES.map(|t| {
            let fields = json!({"type": t, "id": "c", "to": {"user": 1}, "body": "b", "msg_ids": [], "conv": {"user": 1}, "seq": 0});
            serde_json::from_value::<ClientFrame>(fields).unwrap().type_name()
        });
        assert_eq!(client, ClientFrame::TYPES);
        let (user, conv) = (UserId(1), Target::User(UserId(2)));
        let server = [
            ServerFrame::Sent {
                id: "c".into(),
                msg_id: MessageId(1),
                ts: 0,
            },
            ServerFrame::Message(MessagePayload {
                msg_id: MessageId(1),
                from: user,
                to: conv,
                body: "b".into(),
                ts: 0,
                seq: None,
            }),
            ServerFrame::error(None, ErrorCode::Internal, "x"),
            ServerFrame::Pong,
            ServerFrame::Read {
                conv,
                user,
                seq: Seq(0),
            },
            ServerFrame::Typing { conv, user },
            ServerFrame::Presence { user, online: true },
        ];
        for frame in &server {
            assert_eq!(
                serde_json::to_value(frame).unwrap()["type"],
                frame.type_name()
            );
        }
        assert_eq!(
            server.each_ref().map(ServerFrame::type_name),
            ServerFrame::TYPES
        );
    }
}
