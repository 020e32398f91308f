//! Property-based fuzzing of everything a peer can make us decode: client
//! frames (from any WebSocket client) and envelopes / deliveries (from the
//! broker). Runs a bounded number of cases in the test suite; for a longer
//! run: `PROPTEST_CASES=1000000 cargo test -p confab-common fuzz`.

use proptest::prelude::*;
use serde_json::Value;

use crate::envelope::{Bundle, Delivery, Envelope, Input};
use crate::ids::{ConvId, DeviceName, GroupId, MessageId, NodeId, Seq, UserId};
use crate::presence::ConnKey;
use crate::wire::{ClientFrame, MessagePayload, Target};

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("send"),
            Just("ack"),
            Just("ping"),
            Just("user"),
            Just("group")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("id".to_owned()),
                    Just("to".to_owned()),
                    Just("body".to_owned()),
                    Just("msg_ids".to_owned()),
                    Just("user".to_owned()),
                    Just("group".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        any::<i64>().prop_map(|u| Target::User(UserId(u))),
        any::<i64>().prop_map(|g| Target::Group(GroupId(g))),
    ]
}

fn payload() -> impl Strategy<Value = MessagePayload> {
    (
        1..i64::MAX,
        any::<i64>(),
        target(),
        ".{0,200}",
        any::<i64>(),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(id, from, to, body, ts, seq)| MessagePayload {
            msg_id: MessageId(id),
            from: UserId(from),
            to,
            body,
            ts,
            seq: seq.map(Seq),
        })
}

fn conn_key() -> impl Strategy<Value = ConnKey> {
    (any::<u16>(), any::<u64>(), any::<u64>()).prop_map(|(node, incarnation, conn)| ConnKey {
        node: NodeId(node),
        incarnation,
        conn,
    })
}

proptest! {
    #[test]
    fn client_frames_never_panic_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = serde_json::from_str::<ClientFrame>(&text);
    }

    #[test]
    fn client_frames_never_panic_on_arbitrary_json(value in json()) {
        let text = value.to_string();
        if let Ok(ClientFrame::Send { id, body, .. }) = serde_json::from_str::<ClientFrame>(&text) {
            // Whatever parsed is what was there.
            prop_assert_eq!(value["id"].as_str(), Some(id.as_str()));
            prop_assert_eq!(value["body"].as_str(), Some(body.as_str()));
        }
    }

    #[test]
    fn broker_payloads_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = serde_json::from_slice::<Input>(&bytes);
        let _ = Input::decode_all(&bytes);
        let _ = serde_json::from_slice::<Bundle>(&bytes);
    }

    #[test]
    fn envelopes_and_deliveries_round_trip(message in payload(), origin in conn_key(), users in prop::collection::vec(any::<i64>(), 0..5), conv in any::<i64>()) {
        let envelope = Input::Message(Envelope { message: message.clone(), origin, device: Some(DeviceName::stored("phone")), read_us: Some(1) });
        let decoded: Input = serde_json::from_slice(&serde_json::to_vec(&envelope).unwrap()).unwrap();
        prop_assert_eq!(&decoded, &envelope);
        // Alone, or in an array as a node's publisher coalesces them.
        let one = serde_json::to_vec(&envelope).unwrap();
        prop_assert_eq!(Input::decode_all(&one).unwrap(), vec![envelope.clone()]);
        let many = [b"[".as_slice(), &one, b",", &one, b"]"].concat();
        prop_assert_eq!(Input::decode_all(&many).unwrap(), vec![envelope.clone(), envelope]);
        let bundle = Bundle {
            deliveries: vec![Delivery {
                frame: Delivery::frame_of(&message),
                msg_id: message.msg_id,
                conv: ConvId(conv),
                seq: message.seq.unwrap_or(Seq(0)),
                ts: message.ts,
                users: users.into_iter().map(UserId).collect(),
                origin,
                read_us: None,
            }],
            notices: Vec::new(),
        };
        let decoded: Bundle = serde_json::from_slice(&serde_json::to_vec(&bundle).unwrap()).unwrap();
        let (sent, got) = (&bundle.deliveries[0], &decoded.deliveries[0]);
        prop_assert_eq!(got.frame.get(), sent.frame.get());
        prop_assert_eq!((got.msg_id, got.conv, got.seq, got.ts), (sent.msg_id, sent.conv, sent.seq, sent.ts));
        prop_assert_eq!(&got.users, &sent.users);
        prop_assert_eq!(got.origin, sent.origin);
        // The frame is the message, as a client reads it.
        let frame: serde_json::Value = serde_json::from_str(got.frame.get()).unwrap();
        prop_assert_eq!(&frame["type"], "message");
        prop_assert_eq!(frame["body"].as_str(), Some(message.body.as_str()));
    }
}
