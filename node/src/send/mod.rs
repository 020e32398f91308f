//! The send side of the message path: a connection's `send` frames, in
//! order, through the [`pipeline`]: claim the client id ([`dedup`]), check
//! the sender may write there ([`authorize`]), publish to `input` with a
//! confirm ([`publisher`]), answer `sent` or `error`. Nothing here knows
//! about sockets; the connection hands requests in and writes answers out.
//! `read` and `typing` frames go out as [`signal`]s on the same publisher.

pub mod authorize;
pub mod dedup;
pub mod pipeline;
pub mod publisher;
pub mod signal;

pub use pipeline::{
    Answer, Pipeline, Requests, SendInFlight, SendPath, SendRequest, Sender, Sends,
};
