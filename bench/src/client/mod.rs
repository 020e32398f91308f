//! The public contract as a client sees it: [`rest`] for accounts, friends
//! and groups, [`ws`] for the WebSocket frames.

pub mod rest;
pub mod ws;
