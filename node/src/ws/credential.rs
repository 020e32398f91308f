//! Which credential a `/ws` upgrade presents, read before anything is
//! checked. There are two, and neither is ever in the URL:
//!
//! - `Authorization: Bearer <token>`, for every client that can set headers;
//! - a single-use ticket (`crate::auth::tickets`) in the
//!   `Sec-WebSocket-Protocol` header, as `confab.ticket.<ticket>` next to
//!   [`PROTOCOL`] (the way Kubernetes carries a bearer token), for browsers,
//!   which cannot set headers on a WebSocket. The server selects
//!   [`PROTOCOL`], never the ticket, because a browser fails a handshake
//!   whose selected protocol it did not offer or, when it offered some, that
//!   selects none.
//!
//! A URL is printed to the console when a connection fails, and a gateway
//! logs it with its query string when the upgrade fails upstream (nginx's
//! error log cannot be reformatted). So a `token` or `ticket` in the query,
//! the two ways this endpoint once took, is refused 400 [`IN_URL`] without
//! being read, and the gateway refuses it before proxying
//! (`nginx/confab-server.conf`).

use axum::http::HeaderMap;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;

use crate::error::{ApiError, ErrorCode};
use crate::extract::bearer;

/// The subprotocol the server selects: the v1 contract of docs/protocol.md.
pub const PROTOCOL: &str = "confab.v1";

/// The offered subprotocol that carries a ticket: `confab.ticket.<ticket>`.
pub const TICKET_PROTOCOL_PREFIX: &str = "confab.ticket.";

/// The code of the refusal of a credential in the URL; nginx answers the
/// same (`nginx/confab-server.conf`).
pub const IN_URL: ErrorCode = ErrorCode::CredentialInUrl;

/// The query parameters refused by name, in any case (as nginx's `$arg_`
/// matches them): they once carried a token and a ticket.
const URL_CREDENTIALS: [&str; 2] = ["token", "ticket"];

/// The credential of one upgrade, not checked yet.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential {
    /// A token, from the `Authorization` header.
    Token(String),
    /// A single-use ticket, from the `confab.ticket.*` subprotocol.
    Ticket(String),
}

/// What the client offered in `Sec-WebSocket-Protocol`.
#[derive(Debug, Default)]
struct Offer {
    /// Whether `confab.v1` is among the protocols.
    v1: bool,
    /// The tickets of the `confab.ticket.*` protocols.
    tickets: Vec<String>,
}

fn invalid_protocol(message: &'static str) -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidProtocol).with_message(message)
}

/// The offered protocols, from every `Sec-WebSocket-Protocol` line (each a
/// comma-separated list). A line that is not visible ASCII is refused
/// rather than skipped: it may hold a ticket this node cannot read.
fn offer(headers: &HeaderMap) -> Result<Offer, ApiError> {
    let mut offer = Offer::default();
    for line in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let line = line.to_str().map_err(|_| {
            invalid_protocol("`Sec-WebSocket-Protocol` is not a list of protocol names")
        })?;
        for protocol in line.split(',').map(str::trim) {
            if protocol == PROTOCOL {
                offer.v1 = true;
            } else if let Some(ticket) = protocol.strip_prefix(TICKET_PROTOCOL_PREFIX) {
                offer.tickets.push(ticket.to_owned());
            }
        }
    }
    Ok(offer)
}

/// Whether the raw `query` names a `token` or a `ticket`, with a value or
/// not. Only the names are looked at.
fn names_a_credential(query: Option<&str>) -> bool {
    let Some(query) = query else { return false };
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| {
        URL_CREDENTIALS
            .iter()
            .any(|refused| name.eq_ignore_ascii_case(refused))
    })
}

/// The one credential of an upgrade with these `headers` and raw `query`.
/// 400 [`IN_URL`] when the query names a `token` or `ticket`; 400
/// `invalid_protocol` when a ticket protocol is offered without
/// `confab.v1`, twice, or together with an `Authorization` header (one
/// credential per handshake: none is silently ignored, and a ticket is
/// never left unused); 401 `missing_token` when there is none. Nothing is
/// redeemed here, so these refusals use up no ticket.
pub fn credential(headers: &HeaderMap, query: Option<&str>) -> Result<Credential, ApiError> {
    if names_a_credential(query) {
        return Err(ApiError::bad_request(IN_URL));
    }
    let mut offer = offer(headers)?;
    let header_token = bearer(headers);
    match offer.tickets.len() {
        0 => {}
        1 if !offer.v1 => {
            return Err(invalid_protocol(
                "offer `confab.v1` together with `confab.ticket.<ticket>`: the server selects `confab.v1`",
            ));
        }
        1 if header_token.is_some() => {
            return Err(invalid_protocol(
                "a ticket offered as a subprotocol must be the only credential: no `Authorization` header with it",
            ));
        }
        1 => return Ok(Credential::Ticket(offer.tickets.remove(0))),
        _ => {
            return Err(invalid_protocol(
                "offer at most one `confab.ticket.<ticket>`",
            ));
        }
    }
    match header_token {
        Some(token) => Ok(Credential::Token(token.to_owned())),
        None => Err(ApiError::unauthorized(ErrorCode::MissingToken).with_message("a credential is required: `Authorization: Bearer <token>`, or the subprotocols `confab.v1, confab.ticket.<ticket>` with a ticket from `POST /api/auth/ws-ticket`")),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::http::header::AUTHORIZATION;

    use super::*;

    fn headers(lines: &[(&axum::http::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn code(result: Result<Credential, ApiError>) -> &'static str {
        match result {
            Err(ApiError::Client { code, .. }) => code.as_str(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    const P: &axum::http::HeaderName = &SEC_WEBSOCKET_PROTOCOL;

    #[test]
    fn a_ticket_protocol_next_to_v1_is_the_credential() {
        let ticket = |lines| credential(&headers(lines), Some("device=phone")).ok();
        let expected = Some(Credential::Ticket("ab12".into()));
        assert_eq!(ticket(&[(P, "confab.v1, confab.ticket.ab12")]), expected);
        assert_eq!(ticket(&[(P, "confab.ticket.ab12,confab.v1")]), expected);
        // Several header lines are one list.
        assert_eq!(
            ticket(&[(P, "confab.ticket.ab12"), (P, "chat, confab.v1")]),
            expected
        );
        // An empty ticket is the redeemer's to refuse (401 invalid_ticket).
        assert_eq!(
            ticket(&[(P, "confab.v1, confab.ticket.")]),
            Some(Credential::Ticket(String::new()))
        );
    }

    #[test]
    fn a_ticket_protocol_without_v1_twice_or_with_the_header_is_refused() {
        let refused = |lines: &[_]| code(credential(&headers(lines), None));
        assert_eq!(refused(&[(P, "confab.ticket.ab12")]), "invalid_protocol");
        assert_eq!(
            refused(&[(P, "confab.V1, confab.ticket.ab12")]),
            "invalid_protocol"
        );
        let two = [(P, "confab.v1, confab.ticket.ab12, confab.ticket.cd34")];
        assert_eq!(refused(&two), "invalid_protocol");
        let one = (P, "confab.v1, confab.ticket.ab12");
        assert_eq!(
            refused(&[one, (&AUTHORIZATION, "Bearer tok")]),
            "invalid_protocol"
        );
        assert_eq!(refused(&[(P, "confab.v1")]), "missing_token");
        // A line this node cannot read may hold a ticket: refused, not skipped.
        let mut unreadable = HeaderMap::new();
        unreadable.append(P, HeaderValue::from_bytes(b"confab.v1, \xff").unwrap());
        assert_eq!(code(credential(&unreadable, None)), "invalid_protocol");
    }

    #[test]
    fn without_a_ticket_protocol_the_bearer_header_is_the_credential() {
        let get = |lines| credential(&headers(lines), None).ok();
        let bearer = [(&AUTHORIZATION, "Bearer tok"), (P, "confab.v1")];
        assert_eq!(get(&bearer), Some(Credential::Token("tok".into())));
        let basic = [(&AUTHORIZATION, "Basic YWxpY2U6cHc=")];
        assert_eq!(get(&basic), None);
        assert_eq!(get(&[(P, "chat")]), None);
    }

    #[test]
    fn a_token_or_ticket_in_the_query_is_refused_whatever_else_is_offered() {
        let bearer = [(&AUTHORIZATION, "Bearer tok")];
        let ticket = [(P, "confab.v1, confab.ticket.ab12")];
        for query in [
            "token=eyJhbGciOiJIUzI1NiJ9",
            "ticket=ab12",
            "device=phone&token=",
            "ticket",
            "TOKEN=x",
            "Ticket=x&device=phone",
            "tok%65n=x",
        ] {
            for lines in [&bearer[..], &ticket[..], &[]] {
                let refused = credential(&headers(lines), Some(query));
                assert_eq!(code(refused), IN_URL.as_str(), "{query:?}");
            }
        }
        // Names that merely contain the words are not credentials.
        for query in ["device=token", "tokens=1", "x_ticket=1", ""] {
            let accepted = credential(&headers(&bearer), Some(query));
            assert_eq!(accepted.ok(), Some(Credential::Token("tok".into())));
        }
    }
}
