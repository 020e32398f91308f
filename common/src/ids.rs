//! Typed ids, so that a user id can never be passed where a group id is meant,
//! and the time-ordered 64-bit message id generator.
//!
//! User and group ids are Postgres identities and travel as JSON integers.
//! Message ids are snowflakes and travel as decimal strings, because
//! JavaScript cannot hold every 64-bit integer exactly.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! integer_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }
    };
}

integer_id!(
    /// A user account (`users.id`).
    UserId
);
integer_id!(
    /// A group chat (`groups.id`).
    GroupId
);
integer_id!(
    /// A conversation's log (`conversations.id`): the key of its messages,
    /// of device and read positions. Internal: clients name a conversation
    /// by its [`Target`](crate::wire::Target) as they see it.
    ConvId
);
integer_id!(
    /// A message's place in its conversation's log: 1, 2, 3, … with no
    /// gaps. 0 stands before the first message (a position that has seen
    /// nothing).
    Seq
);

impl Seq {
    /// The place right after this one.
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

/// A device of a user (`?device=`): 1-64 of `[A-Za-z0-9._-]`, not a
/// secret; [`DeviceName::DEFAULT`] when a client names none. Each device
/// has its own position in each conversation. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceName(Arc<str>);

/// Why a string is not a device name.
#[derive(Debug, thiserror::Error)]
#[error("a device name is 1-64 of A-Z, a-z, 0-9, '.', '_' and '-'")]
pub struct InvalidDeviceName;

impl DeviceName {
    /// The device of a client that names none.
    pub const DEFAULT: &str = "default";

    /// `name`, if it is a valid device name.
    pub fn parse(name: &str) -> Result<Self, InvalidDeviceName> {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(Arc::from(name)))
        } else {
            Err(InvalidDeviceName)
        }
    }

    /// A name read back from storage or a queue, where only valid names
    /// were ever written.
    pub fn stored(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for DeviceName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DeviceName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::stored(s.as_ref()))
    }
}

/// Which node (or dispatcher) process this is: part of every message id it
/// mints and the name of its private queue, so it must be unique in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u16);

impl NodeId {
    /// Node ids fit the 10 bits a snowflake gives them.
    pub const MAX: u16 = (1 << NODE_BITS) - 1;
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message id: milliseconds since [`EPOCH_MS`] (41 bits), the minting node
/// (10 bits) and a per-millisecond sequence (12 bits). Ids minted by one node
/// are strictly increasing; ids of different nodes are ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub i64);

impl MessageId {
    /// The smallest id minted at Unix time `ms` (every id minted before is
    /// smaller).
    pub fn first_at(ms: i64) -> Self {
        Self((ms - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS))
    }

    /// The Unix time in milliseconds at which this id was minted.
    pub fn timestamp_ms(self) -> i64 {
        (self.0 >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string is not a message id.
#[derive(Debug, thiserror::Error)]
#[error("a message id is a positive decimal 64-bit integer")]
pub struct InvalidMessageId;

impl FromStr for MessageId {
    type Err = InvalidMessageId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(id) if id > 0 && !s.starts_with('+') => Ok(Self(id)),
            _ => Err(InvalidMessageId),
        }
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// 2025-01-01T00:00:00Z: 41 bits of milliseconds from here last until 2094.
pub const EPOCH_MS: i64 = 1_735_689_600_000;
const NODE_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
const SEQUENCE_MASK: i64 = (1 << SEQUENCE_BITS) - 1;

/// Mints [`MessageId`]s for one node. Cheap to share: one short lock per id.
#[derive(Debug)]
pub struct MessageIdGenerator {
    node: NodeId,
    /// (last millisecond used, last sequence used in it).
    last: Mutex<(i64, i64)>,
}

impl MessageIdGenerator {
    /// A generator for `node`, which must be at most [`NodeId::MAX`].
    pub fn new(node: NodeId) -> Self {
        Self {
            node: NodeId(node.0 & NodeId::MAX),
            last: Mutex::new((0, 0)),
        }
    }

    /// The next id. If the clock steps back, ids keep increasing from the last
    /// millisecond used; if 4,096 ids are taken in one millisecond, the next
    /// ones borrow from the following millisecond.
    pub fn next_id(&self) -> MessageId {
        let now = now_ms() - EPOCH_MS;
        // A poisoned lock only means another thread panicked mid-update of two
        // integers; the values are still usable.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (mut ms, mut seq) = *last;
        if now > ms {
            ms = now;
            seq = 0;
        } else {
            seq += 1;
            if seq > SEQUENCE_MASK {
                ms += 1;
                seq = 0;
            }
        }
        *last = (ms, seq);
        MessageId(
            (ms << (NODE_BITS + SEQUENCE_BITS)) | (i64::from(self.node.0) << SEQUENCE_BITS) | seq,
        )
    }
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Which conversation something belongs to: a direct pair (smaller id
/// first) or a group. What `input` is sharded by, and what the dispatcher
/// finds a conversation's log row by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvKey {
    /// The two users, the smaller id first.
    Direct(UserId, UserId),
    Group(GroupId),
}

impl ConvKey {
    /// The direct conversation of `a` and `b`, whichever sends.
    pub fn direct(a: UserId, b: UserId) -> Self {
        Self::Direct(a.min(b), a.max(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_node_strictly_increase_and_carry_their_time() {
        let generator = MessageIdGenerator::new(NodeId(7));
        let before = now_ms();
        let ids: Vec<_> = (0..20_000).map(|_| generator.next_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids[0].timestamp_ms() >= before);
        assert_eq!((ids[0].0 >> SEQUENCE_BITS) & i64::from(NodeId::MAX), 7);
    }

    #[test]
    fn message_ids_travel_as_decimal_strings() {
        let id = MessageId(123_456_789_012_345_678);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"123456789012345678\"");
        assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), id);
        for bad in [
            "\"-1\"",
            "\"0\"",
            "\"+5\"",
            "\"1e3\"",
            "12",
            "\"\"",
            "\"99999999999999999999\"",
        ] {
            assert!(serde_json::from_str::<MessageId>(bad).is_err(), "{bad}");
        }
    }
}
