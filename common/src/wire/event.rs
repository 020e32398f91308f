//! The kinds of the `event` frame, which the REST routes write after a
//! social change (`docs/protocol.md`, Events).

use serde::Serialize;

/// What an `event` frame tells: its `kind`, serialized as the snake_case
/// strings `docs/protocol.md` lists (each kind has its own fields there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new friend request, with both profiles.
    FriendRequest,
    /// A friend request was accepted or declined.
    FriendRequestAnswered,
    /// A friendship ended.
    FriendRemoved,
    /// The user was added to a group (or created it).
    GroupAdded,
    /// Members were added to one of the user's groups.
    MemberAdded,
    /// The user was removed from a group, or left it.
    GroupRemoved,
    /// A member was removed from one of the user's groups, or left it.
    MemberRemoved,
    /// A group was renamed.
    GroupRenamed,
    /// A member's role changed.
    RoleChanged,
    /// A group was disbanded.
    GroupDisbanded,
}

impl EventKind {
    /// Every kind, for exhaustive checks.
    pub const ALL: [EventKind; 10] = [
        Self::FriendRequest,
        Self::FriendRequestAnswered,
        Self::FriendRemoved,
        Self::GroupAdded,
        Self::MemberAdded,
        Self::GroupRemoved,
        Self::MemberRemoved,
        Self::GroupRenamed,
        Self::RoleChanged,
        Self::GroupDisbanded,
    ];

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FriendRequest => "friend_request",
            Self::FriendRequestAnswered => "friend_request_answered",
            Self::FriendRemoved => "friend_removed",
            Self::GroupAdded => "group_added",
            Self::MemberAdded => "member_added",
            Self::GroupRemoved => "group_removed",
            Self::MemberRemoved => "member_removed",
            Self::GroupRenamed => "group_renamed",
            Self::RoleChanged => "role_changed",
            Self::GroupDisbanded => "group_disbanded",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_wire_strings() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
