//! The clients the bench speaks: Confab's public contract ([`rest`] for
//! accounts, friends and groups, [`ws`] for the WebSocket frames), and
//! [`xmpp`] for the peer Confab is compared with (ejabberd).

pub mod rest;
pub mod ws;
pub mod xmpp;
