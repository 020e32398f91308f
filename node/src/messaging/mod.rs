//! The node's side of the message path: publishing accepted messages to
//! `input` ([`publisher`]), consuming its own queue into the hub
//! ([`deliveries`]), deleting acked messages from the inbox in batches
//! ([`acks`]), keeping its presence alive ([`liveness`]) and remembering
//! client ids ([`dedup`]).

pub mod acks;
pub mod dedup;
pub mod deliveries;
pub mod liveness;
pub mod publisher;
