//! Storage helpers that the REST handlers and the WebSocket path both use.
//! They take a connection, never the app state, so any layer can call them
//! and none of them calls back up.

pub mod accounts;
pub mod history;
pub mod log;
pub mod users;
