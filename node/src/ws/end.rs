//! How a connection ends: the close codes this endpoint uses, and the
//! reasons the session loop stops.

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

/// Why the loop ended.
#[derive(Debug)]
pub enum End {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

impl From<Gone> for End {
    fn from(Gone: Gone) -> Self {
        End::Gone
    }
}

/// A frame over the limit closes with 1009; any other read error means the
/// connection is gone. (axum hands the transport's error over boxed; its
/// type is the only way to tell the two apart.)
pub fn too_big_or_gone(e: axum::Error) -> End {
    let too_big = e
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        End::Close(close::TOO_BIG, "frame too large")
    } else {
        End::Gone
    }
}
