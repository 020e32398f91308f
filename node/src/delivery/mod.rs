//! The delivery side of the message path: this node's queue is consumed
//! ([`consumer`]) into the [`hub`], which hands each message to the local
//! connections of its recipients; client acks are written as device
//! positions in batches ([`acks`]); one heartbeat keeps every local connection present
//! ([`liveness`]). Nothing here knows about sockets or the send side.

pub mod acks;
pub mod consumer;
pub mod hub;
pub mod liveness;
