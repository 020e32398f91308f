//! The node's integration tests: one binary, one module per area. Each test
//! starts its own node on port 0 against the real Postgres (a fresh database
//! per test) and the real Redis (a fresh key prefix per test), and speaks HTTP
//! to it like a client.

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
