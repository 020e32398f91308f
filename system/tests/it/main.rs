//! The system suite: one binary, one module per area. Each test starts its
//! own nodes on port 0 (and a dispatcher, in-process, where messages flow)
//! against the real Postgres (a fresh database per test), Redis (a fresh key
//! prefix) and RabbitMQ (a fresh queue prefix), and speaks HTTP and
//! WebSocket to them like a client.

// The workspace denies unwrap/expect outside tests; this whole crate is tests,
// including the helpers that clippy does not see as test functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod helpers;

mod abuse;
mod api_limits;
mod asyncapi;
mod auth;
mod broker;
mod consul;
mod conversations;
mod events;
mod friends;
mod gateway;
mod groups;
mod hostile;
mod limits;
mod me;
mod migration;
mod openapi;
mod ops;
mod realtime;
mod sessions;
mod shards;
mod tokens;
mod users;
mod walkthrough;
mod ws_credentials;
mod ws_input;
