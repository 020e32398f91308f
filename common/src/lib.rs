//! What a Confab node and the dispatcher both need: typed ids and the message
//! id generator, the JWT claims, the database entities, the Redis presence
//! layout, and the configuration pieces both binaries parse.

pub mod auth;
pub mod broker;
pub mod config;
pub mod consul;
pub mod entity;
pub mod envelope;
#[cfg(test)]
mod fuzz;
pub mod health;
pub mod ids;
pub mod keys;
pub mod log;
pub mod metric;
pub mod presence;
pub mod redis;
pub mod retry;
pub mod shutdown;
pub mod social;
pub mod telemetry;
pub mod testing;
pub mod topology;
pub mod wire;

pub use ids::{ConvId, DeviceName, GroupId, MessageId, MessageIdGenerator, NodeId, Seq, UserId};
