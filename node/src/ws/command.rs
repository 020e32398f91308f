//! A client's text frame, decoded into what the connection does with it. Pure:
//! no I/O, no state, so every rule of `docs/protocol.md` about frames is
//! checked here and unit-tested here.

use std::borrow::Cow;

use confab_common::wire::{ClientFrame, ErrorCode, ServerFrame, Target};
use confab_common::{MessageId, Seq};

use crate::send::SendRequest;

/// Most ids in one `ack` frame.
pub const MAX_ACK_IDS: usize = 1000;
/// Most characters in a client id.
const MAX_CLIENT_ID_CHARS: usize = 64;

/// What a valid frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Publish a message (after the rate limit).
    Send(SendRequest),
    /// This device has these messages (possibly none).
    Ack(Vec<MessageId>),
    /// The user read `conv` up to `seq`.
    Read { conv: Target, seq: Seq },
    /// The user is typing in `conv`.
    Typing(Target),
    /// Answer `pong`.
    Ping,
}

/// Why a frame was refused: the `error` frame to answer with. Every refusal
/// counts toward the connection's limit of invalid frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The client id of the refused `send`, if it could be read.
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

impl Refusal {
    fn invalid(id: Option<String>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            id,
            code: ErrorCode::InvalidFrame,
            message: message.into(),
        }
    }

    /// A binary frame: the contract is JSON text.
    pub fn binary() -> Self {
        Self::invalid(None, "binary frames are not supported; send JSON text")
    }

    /// The `error` frame for this refusal.
    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::error(self.id, self.code, self.message)
    }
}

/// Decodes one text frame: steps 1 to 3 of the contract's checks of a
/// `send` (well-formed, `id`, body length); bodies may be at most
/// `max_body_chars`.
pub fn decode(text: &str, max_body_chars: usize) -> Result<Command, Refusal> {
    let frame = serde_json::from_str::<ClientFrame>(text)
        .map_err(|e| Refusal::invalid(client_id_of(text), format!("not a valid frame: {e}")))?;
    match frame {
        ClientFrame::Ping => Ok(Command::Ping),
        ClientFrame::Ack { msg_ids } if msg_ids.len() > MAX_ACK_IDS => Err(Refusal::invalid(
            None,
            format!("at most {MAX_ACK_IDS} ids per ack"),
        )),
        ClientFrame::Ack { msg_ids } => Ok(Command::Ack(msg_ids)),
        ClientFrame::Read { seq, .. } if seq < Seq(0) => {
            Err(Refusal::invalid(None, "`seq` is at least 0"))
        }
        ClientFrame::Read { conv, seq } => Ok(Command::Read { conv, seq }),
        ClientFrame::Typing { conv } => Ok(Command::Typing(conv)),
        ClientFrame::Send { id, to, body } => {
            let id_chars = id.chars().count();
            if id_chars == 0 || id_chars > MAX_CLIENT_ID_CHARS {
                return Err(Refusal::invalid(None, "`id` must be 1 to 64 characters"));
            }
            if body.chars().count() > max_body_chars {
                return Err(Refusal {
                    id: Some(id),
                    code: ErrorCode::TooLarge,
                    message: format!("a message body is at most {max_body_chars} characters")
                        .into(),
                });
            }
            Ok(Command::Send(SendRequest { id, to, body }))
        }
    }
}

/// Step 5 of the contract's checks of a `send`, which comes after the rate
/// limit (step 4, the connection's): the body is not empty.
pub fn non_empty(request: SendRequest) -> Result<SendRequest, Refusal> {
    if request.body.is_empty() {
        return Err(Refusal::invalid(Some(request.id), "the body is empty"));
    }
    Ok(request)
}

/// The `id` of a frame that did not parse, if it has a readable one.
fn client_id_of(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = value.get("id")?.as_str()?;
    (!id.is_empty() && id.chars().count() <= MAX_CLIENT_ID_CHARS).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use confab_common::UserId;
    use confab_common::wire::Target;
    use serde_json::json;

    use super::*;

    fn refused(frame: serde_json::Value) -> Refusal {
        match decode(&frame.to_string(), 10) {
            Err(refusal) => refusal,
            Ok(command) => panic!("{frame} decoded as {command:?}"),
        }
    }

    #[test]
    fn valid_frames_decode_into_commands() {
        let send = json!({"type": "send", "id": "c1", "to": {"user": 7}, "body": "hi", "from": 99});
        assert_eq!(
            decode(&send.to_string(), 10),
            Ok(Command::Send(SendRequest {
                id: "c1".into(),
                to: Target::User(UserId(7)),
                body: "hi".into(),
            }))
        );
        assert_eq!(decode(r#"{"type":"ping"}"#, 10), Ok(Command::Ping));
        assert_eq!(
            decode(r#"{"type":"ack","msg_ids":["5"]}"#, 10),
            Ok(Command::Ack(vec![MessageId(5)]))
        );
        assert_eq!(
            decode(r#"{"type":"ack","msg_ids":[]}"#, 10),
            Ok(Command::Ack(vec![]))
        );
        assert_eq!(
            decode(r#"{"type":"read","conv":{"user":7},"seq":3}"#, 10),
            Ok(Command::Read {
                conv: Target::User(UserId(7)),
                seq: Seq(3)
            })
        );
        assert_eq!(
            decode(r#"{"type":"typing","conv":{"group":2}}"#, 10),
            Ok(Command::Typing(Target::Group(confab_common::GroupId(2))))
        );
        let negative = refused(json!({"type": "read", "conv": {"user": 7}, "seq": -1}));
        assert_eq!(negative.code, ErrorCode::InvalidFrame);
    }

    #[test]
    fn unparsable_frames_are_invalid_and_keep_a_readable_id() {
        for (text, id) in [
            ("not json", None),
            ("[]", None),
            (r#"{"type":"shout","id":"x1"}"#, Some("x1")),
            (
                r#"{"type":"send","id":"x2","to":{"user":"7"},"body":"b"}"#,
                Some("x2"),
            ),
            (r#"{"type":"send","id":"","body":"b"}"#, None),
        ] {
            let refusal = decode(text, 10).expect_err(text);
            assert_eq!(refusal.code, ErrorCode::InvalidFrame, "{text}");
            assert_eq!(refusal.id.as_deref(), id, "{text}");
        }
    }

    #[test]
    fn sends_break_no_rule_of_the_contract() {
        let long_id = "x".repeat(65);
        let r = refused(json!({"type": "send", "id": long_id, "to": {"user": 7}, "body": "b"}));
        assert_eq!((r.code, r.id), (ErrorCode::InvalidFrame, None));
        let r = refused(json!({"type": "send", "id": "", "to": {"user": 7}, "body": "b"}));
        assert_eq!((r.code, r.id), (ErrorCode::InvalidFrame, None));
        // Characters, not bytes: ten of them pass, eleven do not.
        let ok = json!({"type": "send", "id": "c", "to": {"group": 1}, "body": "é".repeat(10)});
        assert!(decode(&ok.to_string(), 10).is_ok());
        let r =
            refused(json!({"type": "send", "id": "c", "to": {"group": 1}, "body": "é".repeat(11)}));
        assert_eq!((r.code, r.id.as_deref()), (ErrorCode::TooLarge, Some("c")));
        // An empty body is refused after the rate limit, not here.
        let empty = json!({"type": "send", "id": "c", "to": {"group": 1}, "body": ""});
        let Ok(Command::Send(request)) = decode(&empty.to_string(), 10) else {
            panic!("an empty body is decoded");
        };
        let r = non_empty(request).unwrap_err();
        assert_eq!(
            (r.code, r.id.as_deref()),
            (ErrorCode::InvalidFrame, Some("c"))
        );
    }

    #[test]
    fn an_ack_carries_at_most_the_limit() {
        let ids: Vec<String> = (0..=MAX_ACK_IDS).map(|i| i.to_string()).collect();
        let r = refused(json!({"type": "ack", "msg_ids": ids}));
        assert_eq!(r.code, ErrorCode::InvalidFrame);
        assert!(
            decode(
                &json!({"type": "ack", "msg_ids": &ids[1..]}).to_string(),
                10
            )
            .is_ok()
        );
    }

    #[test]
    fn a_refusal_becomes_the_contract_error_frame() {
        let frame = Refusal::binary().into_frame();
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            json!({"type": "error", "id": null, "code": "invalid_frame",
                   "message": "binary frames are not supported; send JSON text"})
        );
    }
}
