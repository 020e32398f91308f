//! Every statement the node runs on accounts, profiles, friends and groups:
//! the REST handlers and the WebSocket path call these and run no SQL of
//! their own. They take a connection (`&impl ConnectionTrait`), never the
//! app state, so a handler can run several in one transaction and none of
//! them calls back up; they answer domain values or `DbErr`, or a small
//! error enum where the statement itself decides an outcome (a unique index
//! saying "taken"). The conversation logs are not here: every statement on
//! them is in `confab_common::log`, which the dispatcher shares.

pub mod accounts;
pub mod friends;
pub mod groups;
pub mod users;
