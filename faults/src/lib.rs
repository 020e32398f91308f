//! `confab-faults`: starts a real Confab cluster (the built `confab-node` and
//! `confab-dispatcher` binaries, as processes, behind the nginx gateway) on
//! loopback, drives chat traffic from simulated users who reconnect and
//! re-send like real clients, injects one fault at a time, waits for quiet,
//! and checks what every user received: nothing confirmed lost, no
//! duplicate after dropping repeats by `msg_id`, no conversation out of
//! order, nothing misdelivered. [`run`] fails on any violation. See
//! `docs/guarantees.md`.

mod cluster;
mod clustered;
mod config;
mod devices;
mod diagnose;
mod engines;
mod fault;
mod gateway;
mod harness;
mod ledger;
mod process;
mod proxy;
mod user;
mod wire;

pub use config::{Config, Topology};
pub use harness::run;
