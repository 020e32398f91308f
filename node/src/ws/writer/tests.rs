//! The writer's rules: `seq` order, each once, from where the device
//! stood; a gap asks for a catch-up; the device's own messages are passed.

use std::convert::Infallible;
use std::sync::Arc;

use confab_common::MessageId;
use confab_common::wire::{MessagePayload, Target};
use futures_util::sink::SinkExt;

use super::*;

/// Message `seq` of conversation `conv` (its id is `conv * 100 + seq`).
fn logged(conv: i64, seq: i64) -> Logged {
    Logged {
        conv: ConvId(conv),
        message: MessagePayload {
            msg_id: MessageId(conv * 100 + seq),
            from: UserId(1),
            to: Target::User(UserId(2)),
            body: format!("c{conv}s{seq}"),
            ts: 0,
            seq: Some(Seq(seq)),
        },
        sender_device: None,
    }
}

/// Where `writer` stands, as plain numbers in conversation order.
fn standing<W>(writer: &Writer<W>) -> Vec<(i64, i64)>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let mut at: Vec<_> = writer.positions().iter().map(|(c, s)| (c.0, s.0)).collect();
    at.sort_unstable();
    at
}

/// The writer of user 1's device `phone`.
fn writer<W: Sink<Message, Error = axum::Error> + Unpin>(sink: W) -> Writer<W> {
    Writer::new(sink, UserId(1), DeviceName::stored("phone"))
}

fn live(conv: i64, seq: i64) -> Outbound {
    let l = logged(conv, seq);
    Outbound::Message(Arc::new(Encoded::new(l.conv, &l.message)))
}

fn own(conv: i64, seq: i64) -> Outbound {
    let l = logged(conv, seq);
    Outbound::Own(Arc::new(Encoded::new(l.conv, &l.message)))
}

fn written(sink: &[Message]) -> Vec<String> {
    sink.iter()
        .map(|m| match m {
            Message::Text(text) => {
                let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                frame["body"].as_str().unwrap_or("notice").to_owned()
            }
            other => format!("{other:?}"),
        })
        .collect()
}

async fn deliver(
    writer: &mut Writer<impl Sink<Message, Error = axum::Error> + Unpin>,
    items: Vec<Outbound>,
) -> Vec<AfterWrite> {
    let (tx, mut queue) = mpsc::channel(16);
    let mut thens = Vec::new();
    for item in items {
        tx.try_send(item).unwrap();
    }
    while let Ok(first) = queue.try_recv() {
        thens.push(writer.deliveries(first, &mut queue).await.unwrap());
    }
    thens
}

#[tokio::test]
async fn each_conversation_is_written_in_seq_order_once_from_where_the_device_stood() {
    let mut out = Vec::new();
    let sink = (&mut out).sink_map_err(|e: Infallible| match e {});
    let mut writer = writer(sink);
    // The device had conversation 1 up to 1 and conversation 2 up to 5.
    let page = Page {
        opened: Some(vec![(ConvId(1), Seq(1)), (ConvId(2), Seq(5))]),
        messages: vec![logged(1, 2), logged(1, 3)],
    };
    assert_eq!(writer.page(&page).await, Ok(2));
    // Live: a repeat of what the replay wrote, the next of each
    // conversation, a conversation started since (seq 1), a notice.
    let thens = deliver(
        &mut writer,
        vec![
            live(1, 3),
            live(1, 4),
            live(2, 6),
            live(3, 1),
            Outbound::Notice(Arc::new("{}".into())),
        ],
    )
    .await;
    assert_eq!(thens, [AfterWrite::Continue]);
    assert_eq!(standing(&writer), [(1, 4), (2, 6), (3, 1)]);
    drop(writer);
    assert_eq!(
        written(&out),
        ["c1s2", "c1s3", "c1s4", "c2s6", "c3s1", "notice"]
    );
}

#[tokio::test]
async fn a_gap_stops_the_batch_for_a_catch_up_and_the_devices_own_messages_are_passed() {
    let mut out = Vec::new();
    let sink = (&mut out).sink_map_err(|e: Infallible| match e {});
    let mut writer = writer(sink);
    let opened = Page {
        opened: Some(vec![(ConvId(1), Seq(0))]),
        messages: vec![],
    };
    assert_eq!(writer.page(&opened).await, Ok(0));
    // Seq 1 was this connection's own; seq 3 shows that 2 was missed.
    let thens = deliver(&mut writer, vec![own(1, 1), live(1, 3), live(1, 4)]).await;
    assert_eq!(thens, [AfterWrite::CatchUp, AfterWrite::CatchUp]);
    assert_eq!(standing(&writer), [(1, 1)]);
    // The catch-up reads the log after 1. Passed: what this device sent
    // before the connection opened (seq 5), what this connection sent
    // (seq 7). Written: what another device of the user sent (seq 4),
    // what another connection of this device sent since (seq 6).
    let mut caught_up: Vec<Logged> = (2..=7).map(|seq| logged(1, seq)).collect();
    caught_up[2].sender_device = Some(DeviceName::stored("laptop"));
    caught_up[3].sender_device = Some(DeviceName::stored("phone"));
    caught_up[4].sender_device = Some(DeviceName::stored("phone"));
    caught_up[4].message.ts = i64::MAX;
    writer.sent(MessageId(107));
    let page = Page {
        opened: None,
        messages: caught_up,
    };
    assert_eq!(writer.page(&page).await, Ok(4));
    assert_eq!(standing(&writer), [(1, 7)]);
    drop(writer);
    assert_eq!(written(&out), ["c1s2", "c1s3", "c1s4", "c1s6"]);
}
