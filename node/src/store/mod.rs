//! Storage helpers for accounts and users that the REST handlers and the
//! WebSocket path both use. They take a connection, never the app state, so
//! any layer can call them and none of them calls back up. The conversation
//! logs are not here: every statement on them is in `confab_common::log`,
//! which the dispatcher shares.

pub mod accounts;
pub mod users;
