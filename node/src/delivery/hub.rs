//! The node's local connections: who is connected here, and a bounded
//! outbound queue per connection. Deliveries from the node's queue are fanned
//! out here; a connection whose queue is full is closed (its messages stay
//! in their logs and come back on the device's next connect) rather than
//! buffered without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::ws::Utf8Bytes;
use confab_common::envelope::{Delivery, Notice};
use confab_common::presence::ConnKey;
use confab_common::wire::{MessagePayload, ServerFrame};
use confab_common::{ConvId, MessageId, NodeId, Seq, UserId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A `message` frame, encoded once: the one encoder of messages for
/// sockets, shared by live deliveries (one encoding for every local
/// recipient) and replays.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub text: Utf8Bytes,
    pub msg_id: MessageId,
    /// The conversation's internal id and the message's place in it.
    pub conv: ConvId,
    pub seq: Seq,
    /// When the node accepted the message (Unix ms), for the latency metric.
    pub ts: i64,
    /// When the sending node read the `send` (Unix µs), for the stage
    /// metrics; only live deliveries carry it.
    pub read_us: Option<i64>,
}

impl Encoded {
    /// The `message` frame for `message` (which has its `seq`) of
    /// conversation `conv`.
    pub fn new(conv: ConvId, message: &MessagePayload) -> Self {
        Self {
            text: ServerFrame::Message(message.clone()).to_json().into(),
            msg_id: message.msg_id,
            conv,
            seq: message.seq.unwrap_or(Seq(0)),
            ts: message.ts,
            read_us: None,
        }
    }

    /// The frame a delivery carries, as it is.
    pub fn delivered(delivery: &Delivery) -> Self {
        Self {
            text: delivery.frame.get().into(),
            msg_id: delivery.msg_id,
            conv: delivery.conv,
            seq: delivery.seq,
            ts: delivery.ts,
            read_us: delivery.read_us,
        }
    }
}

/// What the hub hands a connection: one pointer, shared by every local
/// recipient. Small on purpose: a connection's queue allocates its slots in
/// blocks of 32 when it opens, and an idle connection keeps that block (at
/// 88 bytes an item it was 2.8 KB of every held connection).
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A message for the connection's user.
    Message(Arc<Encoded>),
    /// A message this connection sent: not written, but the connection is
    /// now that far in the conversation.
    Own(Arc<Encoded>),
    /// A frame written as it is (receipts, typing, events).
    Notice(Arc<Utf8Bytes>),
    /// Read the logs again from the positions written: deliveries may have
    /// been missed (the node's queue or presence was lost meanwhile).
    CatchUp,
}

/// One connection as the hub sees it.
#[derive(Debug)]
struct Conn {
    key: ConnKey,
    tx: mpsc::Sender<Outbound>,
    /// Cancelled when the connection's queue overflowed: the connection then
    /// closes the socket (the client reads too slowly).
    kick: CancellationToken,
    /// The session (token) the connection was opened with.
    session: uuid::Uuid,
    /// Cancelled when that session is revoked: the connection closes 4401.
    revoked: CancellationToken,
}

/// The handle a connection keeps.
#[derive(Debug)]
pub struct Registration {
    pub key: ConnKey,
    pub rx: mpsc::Receiver<Outbound>,
    pub kick: CancellationToken,
    pub revoked: CancellationToken,
}

/// Local connections by user.
#[derive(Debug)]
pub struct Hub {
    node: NodeId,
    incarnation: u64,
    next_conn: AtomicU64,
    capacity: usize,
    conns: RwLock<HashMap<UserId, Vec<Arc<Conn>>>>,
}

impl Hub {
    /// A hub for this node process; each connection's queue holds `capacity`
    /// frames.
    pub fn new(node: NodeId, incarnation: u64, capacity: usize) -> Self {
        Self {
            node,
            incarnation,
            next_conn: AtomicU64::new(1),
            capacity,
            conns: RwLock::new(HashMap::new()),
        }
    }

    /// This process's incarnation (part of every [`ConnKey`] it issues).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Adds a connection of `user`, opened in `session`.
    pub fn register(&self, user: UserId, session: uuid::Uuid) -> Registration {
        let key = ConnKey {
            node: self.node,
            incarnation: self.incarnation,
            conn: self.next_conn.fetch_add(1, Ordering::Relaxed),
        };
        let (tx, rx) = mpsc::channel(self.capacity);
        let (kick, revoked) = (CancellationToken::new(), CancellationToken::new());
        let conn = Arc::new(Conn {
            key,
            tx,
            kick: kick.clone(),
            session,
            revoked: revoked.clone(),
        });
        self.write().entry(user).or_default().push(conn);
        Registration {
            key,
            rx,
            kick,
            revoked,
        }
    }

    /// Closes `user`'s local connections opened in one of `sessions`.
    /// Returns how many.
    pub fn revoke(&self, user: UserId, sessions: &[uuid::Uuid]) -> usize {
        let conns = self.read();
        let mut closed = 0;
        for conn in conns.get(&user).into_iter().flatten() {
            if sessions.contains(&conn.session) {
                conn.revoked.cancel();
                closed += 1;
            }
        }
        closed
    }

    /// Removes a connection; true if it was the user's last one here.
    pub fn unregister(&self, user: UserId, key: ConnKey) -> bool {
        let mut conns = self.write();
        let Some(list) = conns.get_mut(&user) else {
            return true;
        };
        list.retain(|c| c.key != key);
        if list.is_empty() {
            conns.remove(&user);
            return true;
        }
        false
    }

    /// Hands `delivery` to every local connection of its recipients; the
    /// connection it came from only learns its position. Returns how many
    /// messages were queued.
    pub fn deliver(&self, delivery: &Delivery) -> usize {
        // Encoded by the dispatcher; one copy for every local recipient.
        let encoded = Arc::new(Encoded::delivered(delivery));
        let conns = self.read();
        let mut queued = 0;
        for user in &delivery.users {
            let Some(list) = conns.get(user) else {
                continue;
            };
            for conn in list {
                if conn.key == delivery.origin {
                    // Never a reason to kick, and never the cause of one:
                    // it only takes the queue's first half. Dropped, the
                    // writer finds the gap at the next message and the
                    // catch-up passes this one.
                    if conn.tx.capacity() > self.capacity / 2 {
                        let _ = conn.tx.try_send(Outbound::Own(encoded.clone()));
                    }
                } else if self.offer(conn, Outbound::Message(encoded.clone())) {
                    queued += 1;
                }
            }
        }
        queued
    }

    /// Hands `notice` to every local connection of its users but the one it
    /// names.
    pub fn notify(&self, notice: &Notice) {
        let text = Arc::new(Utf8Bytes::from(notice.frame.as_str()));
        let conns = self.read();
        for user in &notice.users {
            for conn in conns.get(user).into_iter().flatten() {
                if Some(conn.key) != notice.except {
                    self.offer(conn, Outbound::Notice(text.clone()));
                }
            }
        }
    }

    /// Asks every local connection to read the logs again from its
    /// positions.
    pub fn catch_up_all(&self) {
        for conn in self.read().values().flatten() {
            self.offer(conn, Outbound::CatchUp);
        }
    }

    /// Every local connection, for re-registering presence.
    pub fn connections(&self) -> Vec<(UserId, ConnKey)> {
        self.read()
            .iter()
            .flat_map(|(user, list)| list.iter().map(move |c| (*user, c.key)))
            .collect()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.read().values().map(Vec::len).sum()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn offer(&self, conn: &Conn, item: Outbound) -> bool {
        match conn.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                conn.kick.cancel();
                false
            }
            // The connection is ending; the logs keep what it missed.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, Vec<Arc<Conn>>>> {
        self.conns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Vec<Arc<Conn>>>> {
        self.conns.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use confab_common::wire::Target;

    use super::*;

    fn delivery(msg_id: i64, to: &[UserId], origin: ConnKey) -> Delivery {
        let message = MessagePayload {
            msg_id: MessageId(msg_id),
            from: UserId(1),
            to: Target::User(to[0]),
            body: "hi".into(),
            ts: 0,
            seq: Some(Seq(msg_id)),
        };
        Delivery {
            frame: Delivery::frame_of(&message),
            msg_id: message.msg_id,
            conv: ConvId(1),
            seq: Seq(msg_id),
            ts: 0,
            users: to.to_vec(),
            origin,
            read_us: None,
        }
    }

    fn ids(registration: &mut Registration) -> Vec<i64> {
        let mut ids = Vec::new();
        while let Ok(item) = registration.rx.try_recv() {
            match item {
                Outbound::Message(m) => ids.push(m.msg_id.0),
                Outbound::Own(m) => ids.push(-m.msg_id.0),
                Outbound::Notice(_) => ids.push(0),
                Outbound::CatchUp => ids.push(-1),
            }
        }
        ids
    }

    #[test]
    fn an_outbound_item_is_a_pointer_and_its_tag() {
        assert_eq!(std::mem::size_of::<Outbound>(), 16);
    }

    #[test]
    fn a_delivery_reaches_every_local_connection_of_its_recipients_and_its_origin_learns_the_seq() {
        let hub = Hub::new(NodeId(1), 7, 8);
        let (alice, bob, carol) = (UserId(1), UserId(2), UserId(3));
        let mut sender = hub.register(alice, uuid::Uuid::nil());
        let mut other_device = hub.register(alice, uuid::Uuid::nil());
        let mut phone = hub.register(bob, uuid::Uuid::nil());
        let mut laptop = hub.register(bob, uuid::Uuid::nil());
        let mut bystander = hub.register(carol, uuid::Uuid::nil());
        assert_eq!(hub.len(), 5);

        let queued = hub.deliver(&delivery(10, &[bob, alice], sender.key));
        assert_eq!(queued, 3);
        assert_eq!(ids(&mut phone), [10]);
        assert_eq!(ids(&mut laptop), [10]);
        assert_eq!(ids(&mut other_device), [10]);
        assert_eq!(ids(&mut sender), [-10]);
        assert!(ids(&mut bystander).is_empty());

        hub.unregister(bob, laptop.key);
        hub.catch_up_all();
        assert_eq!(ids(&mut phone), [-1]);
        assert!(ids(&mut laptop).is_empty());
        assert_eq!(hub.connections().len(), 4);
    }

    #[test]
    fn a_connection_whose_queue_is_full_is_kicked_not_buffered() {
        let hub = Hub::new(NodeId(1), 7, 2);
        let bob = UserId(2);
        let mut slow = hub.register(bob, uuid::Uuid::nil());
        let origin = hub.register(UserId(1), uuid::Uuid::nil()).key;
        for msg_id in 1..=3 {
            hub.deliver(&delivery(msg_id, &[bob], origin));
        }
        assert!(slow.kick.is_cancelled());
        assert_eq!(ids(&mut slow), [1, 2]);
    }

    #[test]
    fn a_fast_senders_own_markers_never_get_it_kicked() {
        let hub = Hub::new(NodeId(1), 4, 4);
        let alice = UserId(1);
        let mut sender = hub.register(alice, uuid::Uuid::nil());
        // A burst the sender's loop has not drained yet: its own markers
        // take at most half the queue…
        for msg_id in 1..=10 {
            hub.deliver(&delivery(msg_id, &[alice], sender.key));
        }
        // …so a notice still fits, and nobody is kicked.
        hub.notify(&Notice {
            frame: "{}".into(),
            users: vec![alice],
            except: None,
        });
        assert!(!sender.kick.is_cancelled());
        assert_eq!(ids(&mut sender), [-1, -2, 0]);
    }
}
