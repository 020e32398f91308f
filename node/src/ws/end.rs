//! How a connection ends: the close codes this endpoint uses, and why a
//! connection's loop stops ([`Disconnect`]).

use crate::ws::writer::Gone;

/// Close codes this endpoint uses.
pub mod close {
    /// The node is shutting down: reconnect (to another node).
    pub const GOING_AWAY: u16 = 1001;
    /// Repeated abuse.
    pub const POLICY: u16 = 1008;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// A dependency is down, or the client reads too slowly: try again later.
    pub const TRY_AGAIN: u16 = 1013;
    /// The session was revoked (log-out, password change, deleted
    /// account): do not reconnect with the same token.
    pub const REVOKED: u16 = 4401;

    /// Every code above, for exhaustive checks (the AsyncAPI document lists
    /// exactly these).
    pub const ALL: [u16; 5] = [GOING_AWAY, POLICY, TOO_BIG, TRY_AGAIN, REVOKED];
}

/// Why a connection's loop ended. (The writer's [`Gone`] is one of them:
/// the socket failed under it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

impl From<Gone> for Disconnect {
    fn from(Gone: Gone) -> Self {
        Disconnect::Gone
    }
}

/// A frame over the limit closes with 1009; any other read error means the
/// connection is gone. (axum hands the transport's error over boxed; its
/// type is the only way to tell the two apart.)
pub fn too_big_or_gone(e: axum::Error) -> Disconnect {
    let too_big = e
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        Disconnect::Close(close::TOO_BIG, "frame too large")
    } else {
        Disconnect::Gone
    }
}
