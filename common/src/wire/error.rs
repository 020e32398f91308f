//! Every error code of the contract, REST and WebSocket alike: the `code` of
//! a REST error body (`{"error":{"code","message"}}`) and of an `error`
//! frame. Clients branch on these strings, never on the human-readable
//! `message`; `docs/protocol.md` lists them all.

use serde::{Serialize, Serializer};

/// Declares [`ErrorCode`] from one table: each code once, with its wire
/// string and its default human text, so the variant list, [`ErrorCode::ALL`],
/// [`ErrorCode::as_str`] and [`ErrorCode::message`] cannot disagree.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $code:ident = $wire:literal, $message:literal;)+) => {
        /// Why a request or a frame was refused. Serialized as its wire
        /// string ([`Self::as_str`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $code,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: [ErrorCode; [$($wire),+].len()] = [$(Self::$code),+];

            /// The wire string (also the `reason` label of refused-send
            /// metrics).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$code => $wire,)+
                }
            }

            /// The human text sent with this code unless the refusal has a
            /// more specific one.
            pub const fn message(self) -> &'static str {
                match self {
                    $(Self::$code => $message,)+
                }
            }
        }
    };
}

error_codes! {
    // Answered by `error` frames (`ErrorCode::FRAME`), most also by REST.
    /// Not a frame of the contract (bad JSON, unknown type, bad field).
    InvalidFrame = "invalid_frame", "not a frame of the contract";
    /// A message body, or a REST request body, over the limit.
    TooLarge = "too_large", "the request body is too large";
    /// Over a rate: send again later (REST: after `Retry-After`).
    RateLimited = "rate_limited", "too many requests; retry after the time in Retry-After";
    /// A dependency is briefly down: try again (a send: with the same id).
    Unavailable = "unavailable", "a service Confab depends on is unavailable; try again shortly";
    /// Direct messages go to friends only; groups take friends only.
    NotFriends = "not_friends", "direct messages go to friends only";
    /// No user has this id.
    NoSuchUser = "no_such_user", "there is no user with this id";
    /// The caller is not a member of the group.
    NotMember = "not_member", "you are not a member of this group";
    /// No group has this id.
    NoSuchGroup = "no_such_group", "there is no group with this id";
    /// The caller is not in this conversation.
    NoSuchConversation = "no_such_conversation", "you have no such conversation";
    /// A server fault that is not the client's (details are logged).
    Internal = "internal", "internal error";

    // Credentials (REST and the WebSocket handshake).
    /// No credential was presented.
    MissingToken = "missing_token", "an `Authorization: Bearer <token>` header is required";
    /// The token is malformed, forged, or its account is gone.
    InvalidToken = "invalid_token", "the token is not valid";
    /// The token's `exp` has passed.
    TokenExpired = "token_expired", "the token has expired; log in again";
    /// The token's session was logged out.
    TokenRevoked = "token_revoked", "this session was logged out; log in again";
    /// A WebSocket ticket that is unknown, used or expired.
    InvalidTicket = "invalid_ticket", "the ticket is unknown, used or expired; ask for a new one";
    /// Log-in with an unknown username or a wrong password.
    InvalidCredentials = "invalid_credentials", "the username or the password is wrong";
    /// The account's failed log-ins make the next attempt wait.
    LoginDelayed = "login_delayed", "too many failed log-ins for this account; retry after the time in Retry-After";
    /// Too many log-ins wait for the password hasher.
    Busy = "busy", "too many log-ins at once; try again in a second";
    /// A credential in the `/ws` URL, which gets logged.
    CredentialInUrl = "credential_in_url", "a credential in the URL is refused (URLs are logged): send `Authorization: Bearer <token>`, or ask `POST /api/auth/ws-ticket` for a ticket and offer the subprotocols `confab.v1, confab.ticket.<ticket>`";

    // The WebSocket handshake.
    /// The offered subprotocols do not fit the contract.
    InvalidProtocol = "invalid_protocol", "the offered `Sec-WebSocket-Protocol` does not fit the contract";
    /// A `device` that is not a device name.
    InvalidDevice = "invalid_device", "`device` is 1 to 64 of A-Z, a-z, 0-9, `.`, `_` and `-`";
    /// `/ws` without a WebSocket upgrade.
    NotWebsocket = "not_websocket", "this route takes a WebSocket upgrade";
    /// The user has as many connections as allowed.
    TooManyConnections = "too_many_connections", "this user has as many connections as allowed across the cluster (WS_MAX_CONNECTIONS_PER_USER); close one first";

    // Any REST route: the request's shape.
    /// The body is not JSON or could not be read.
    MalformedBody = "malformed_body", "the body is not valid JSON";
    /// A path parameter is not an id.
    InvalidPath = "invalid_path", "a path parameter is not valid";
    /// A query parameter is missing, of the wrong type or out of range.
    InvalidQuery = "invalid_query", "a query parameter is not valid";
    /// The body is JSON that does not fit the route's schema.
    InvalidField = "invalid_field", "the body does not fit the route's schema";
    /// A body without `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type", "the body must be JSON with `Content-Type: application/json`";
    /// No such route.
    NotFound = "not_found", "no such route";
    /// The route does not take this method.
    MethodNotAllowed = "method_not_allowed", "this route does not take this method";

    // Accounts and profiles.
    /// The username exists (compared case-insensitively).
    UsernameTaken = "username_taken", "this username is taken";
    /// The username rule is broken.
    InvalidUsername = "invalid_username", "the username breaks the username rule";
    /// The password rule is broken.
    WeakPassword = "weak_password", "the password breaks the password rule";
    /// The display name rule is broken.
    InvalidDisplayName = "invalid_display_name", "the display name breaks the display name rule";
    /// The bio rule is broken.
    InvalidBio = "invalid_bio", "the bio breaks the bio rule";
    /// The avatar URL rule is broken.
    InvalidAvatarUrl = "invalid_avatar_url", "the avatar URL breaks the avatar URL rule";
    /// The password given is not the current one.
    WrongPassword = "wrong_password", "the current password is wrong";
    /// A user search out of its rules.
    InvalidSearch = "invalid_search", "the search breaks the search rules";

    // Friends.
    /// A friend request to oneself.
    CannotBefriendSelf = "cannot_befriend_self", "you cannot befriend yourself";
    /// The two are friends already.
    AlreadyFriends = "already_friends", "you are friends already";
    /// A request between the two is pending.
    RequestPending = "request_pending", "a friend request between you two is already pending";
    /// No friend request has this id.
    NoSuchRequest = "no_such_request", "there is no friend request with this id";
    /// The caller is not the user the request was sent to.
    NotAddressee = "not_addressee", "only the user a request is addressed to may answer it";
    /// The request was answered already.
    RequestNotPending = "request_not_pending", "this request was answered already";
    /// No friendship with this user.
    NoSuchFriend = "no_such_friend", "you are not friends with this user";

    // Groups.
    /// The group name rule is broken.
    InvalidName = "invalid_name", "the group name breaks the group name rule";
    /// The group would have too many members.
    GroupFull = "group_full", "the group would have too many members";
    /// The target user is not in the group.
    NoSuchMember = "no_such_member", "this user is not a member of the group";
    /// The caller's role does not allow it.
    InsufficientRole = "insufficient_role", "your role in this group does not allow this";
    /// The owner must hand ownership over first.
    OwnerMustTransfer = "owner_must_transfer", "the owner must hand ownership to another member before leaving";
}

impl ErrorCode {
    /// The codes an `error` frame carries (the WebSocket table of
    /// `docs/protocol.md` and the AsyncAPI document).
    pub const FRAME: [ErrorCode; 10] = [
        Self::InvalidFrame,
        Self::TooLarge,
        Self::RateLimited,
        Self::Unavailable,
        Self::NotFriends,
        Self::NoSuchUser,
        Self::NotMember,
        Self::NoSuchGroup,
        Self::NoSuchConversation,
        Self::Internal,
    ];
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use serde_json::json;

    const PROTOCOL: &str = include_str!("../../../docs/protocol.md");

    #[test]
    fn error_codes_serialize_as_their_wire_strings() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
        let distinct: BTreeSet<_> = ErrorCode::ALL.map(ErrorCode::as_str).into();
        assert_eq!(distinct.len(), ErrorCode::ALL.len());
    }

    /// The first column's codes of the table rows in `text`: `` | `code` | ``
    /// (the WebSocket table) or `` | 404 | `code` | `` (the REST tables).
    fn tabled(text: &str, after_status: bool) -> BTreeSet<&str> {
        text.lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix('|')?.split('|').map(str::trim);
                if after_status {
                    cells
                        .next()
                        .filter(|s| s.len() == 3 && s.parse::<u16>().is_ok())?;
                }
                cells.next()?.strip_prefix('`')?.strip_suffix('`')
            })
            .collect()
    }

    #[test]
    fn docs_protocol_lists_exactly_these_codes() {
        let (_, frames) = PROTOCOL
            .split_once("### Error codes (`error` frames)")
            .unwrap();
        let frames = frames.split("\n### ").next().unwrap();
        let wire = |codes: &[ErrorCode]| codes.iter().map(|c| c.as_str()).collect::<BTreeSet<_>>();
        assert_eq!(tabled(frames, false), wire(&ErrorCode::FRAME));
        // REST answers every code but `invalid_frame`.
        let rest: Vec<ErrorCode> = ErrorCode::ALL
            .into_iter()
            .filter(|&c| c != ErrorCode::InvalidFrame)
            .collect();
        assert_eq!(tabled(PROTOCOL, true), wire(&rest));
    }
}
