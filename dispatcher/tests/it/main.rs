//! The dispatcher's integration tests: one binary, one module per behaviour.
//! Each test drives the dispatcher library (`confab_dispatcher::run`,
//! in-process, no node) against the real Postgres, Redis and RabbitMQ: it
//! publishes `Input` items to the input shards of its own queue prefix, plays
//! a node (`node.rs`: a node queue, connections in presence under its own key
//! prefix) and reads what the dispatcher routed there. `bed.rs` gives each
//! test its own database, key prefix and queue prefix, removed at the end;
//! `dispatcher.rs` starts and stops dispatchers on them.

// The workspace denies unwrap/expect outside tests; this whole crate is tests,
// including the helpers that clippy does not see as test functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bed;
mod dispatcher;
mod node;

mod acks;
mod handover;
mod ordering;
mod poison;
