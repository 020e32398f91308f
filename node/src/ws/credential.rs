//! Which credential a `/ws` upgrade presents, read before anything is
//! checked. Browsers cannot set headers on a WebSocket, and a URL is printed
//! to the console when a connection fails and logged by gateways, so they
//! carry their single-use ticket where only the handshake sees it: the
//! `Sec-WebSocket-Protocol` header, as `confab.ticket.<ticket>` next to
//! [`PROTOCOL`] (the way Kubernetes carries a bearer token). The server
//! selects [`PROTOCOL`], never the ticket, because a browser fails a
//! handshake whose selected protocol it did not offer or, when it offered
//! some, that selects none.
//!
//! Every other way stays as it was: `Authorization: Bearer` wins over the
//! query, `?ticket=` (the fallback for clients that cannot offer a
//! subprotocol) over the deprecated `?token=`.

use axum::http::HeaderMap;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;

use crate::error::ApiError;
use crate::extract::bearer;

/// The subprotocol the server selects: the v1 contract of docs/protocol.md.
pub const PROTOCOL: &str = "confab.v1";

/// The offered subprotocol that carries a ticket: `confab.ticket.<ticket>`.
pub const TICKET_PROTOCOL_PREFIX: &str = "confab.ticket.";

/// The credential of one upgrade, not checked yet.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential {
    /// A token: the `Authorization` header, or the deprecated `?token=`.
    Token(String),
    /// A single-use ticket: the subprotocol, or `?ticket=`.
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
    ApiError::bad_request("invalid_protocol", message)
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

/// The one credential of an upgrade with these `headers` and query values.
/// 400 `invalid_protocol` when a ticket protocol is offered without
/// `confab.v1`, twice, or together with another credential (one credential
/// per handshake: none is silently ignored, and a ticket is never left
/// unused); 401 `missing_token` when there is none. Nothing is redeemed
/// here, so these refusals use up no ticket.
pub fn credential(
    headers: &HeaderMap,
    query_ticket: Option<String>,
    query_token: Option<String>,
) -> Result<Credential, ApiError> {
    let mut offer = offer(headers)?;
    let header_token = bearer(headers);
    match offer.tickets.len() {
        0 => {}
        1 if !offer.v1 => {
            return Err(invalid_protocol(
                "offer `confab.v1` together with `confab.ticket.<ticket>`: the server selects `confab.v1`",
            ));
        }
        1 if header_token.is_some() || query_ticket.is_some() || query_token.is_some() => {
            return Err(invalid_protocol(
                "a ticket offered as a subprotocol must be the only credential: no `Authorization` header, `ticket` or `token` with it",
            ));
        }
        1 => return Ok(Credential::Ticket(offer.tickets.remove(0))),
        _ => {
            return Err(invalid_protocol(
                "offer at most one `confab.ticket.<ticket>`",
            ));
        }
    }
    match (header_token, query_ticket, query_token) {
        (Some(token), _, _) => Ok(Credential::Token(token.to_owned())),
        (None, Some(ticket), _) => Ok(Credential::Ticket(ticket)),
        (None, None, Some(token)) => Ok(Credential::Token(token)),
        (None, None, None) => Err(ApiError::unauthorized(
            "missing_token",
            "a credential is required: `Authorization: Bearer <token>`, the subprotocols `confab.v1, confab.ticket.<ticket>`, or `?ticket=<ticket>`",
        )),
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
            Err(ApiError::Client { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    const P: &axum::http::HeaderName = &SEC_WEBSOCKET_PROTOCOL;

    #[test]
    fn a_ticket_protocol_next_to_v1_is_the_credential() {
        let ticket = |lines| credential(&headers(lines), None, None).ok();
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
    fn a_ticket_protocol_without_v1_twice_or_with_another_credential_is_refused() {
        let refused = |lines, ticket: Option<&str>, token: Option<&str>| {
            code(credential(
                &headers(lines),
                ticket.map(Into::into),
                token.map(Into::into),
            ))
        };
        assert_eq!(
            refused(&[(P, "confab.ticket.ab12")], None, None),
            "invalid_protocol"
        );
        assert_eq!(
            refused(&[(P, "confab.V1, confab.ticket.ab12")], None, None),
            "invalid_protocol"
        );
        let two = [(P, "confab.v1, confab.ticket.ab12, confab.ticket.cd34")];
        assert_eq!(refused(&two, None, None), "invalid_protocol");
        let one = [(P, "confab.v1, confab.ticket.ab12")];
        assert_eq!(refused(&one, Some("cd34"), None), "invalid_protocol");
        assert_eq!(refused(&one, None, Some("tok")), "invalid_protocol");
        let with_header = [one[0], (&AUTHORIZATION, "Bearer tok")];
        assert_eq!(refused(&with_header, None, None), "invalid_protocol");
        assert_eq!(refused(&[(P, "confab.v1")], None, None), "missing_token");
        // A line this node cannot read may hold a ticket: refused, not skipped.
        let mut unreadable = HeaderMap::new();
        unreadable.append(P, HeaderValue::from_bytes(b"confab.v1, \xff").unwrap());
        assert_eq!(
            code(credential(&unreadable, None, None)),
            "invalid_protocol"
        );
    }

    #[test]
    fn without_a_ticket_protocol_the_header_wins_then_the_ticket_then_the_token() {
        let get = |lines, ticket: Option<&str>, token: Option<&str>| {
            credential(
                &headers(lines),
                ticket.map(Into::into),
                token.map(Into::into),
            )
            .ok()
        };
        let bearer = [(&AUTHORIZATION, "Bearer tok"), (P, "confab.v1")];
        assert_eq!(
            get(&bearer, Some("t"), Some("q")),
            Some(Credential::Token("tok".into()))
        );
        let basic = [(&AUTHORIZATION, "Basic YWxpY2U6cHc=")];
        assert_eq!(
            get(&basic, Some("t"), Some("q")),
            Some(Credential::Ticket("t".into()))
        );
        assert_eq!(
            get(&[], None, Some("q")),
            Some(Credential::Token("q".into()))
        );
        assert_eq!(get(&[(P, "chat")], None, None), None);
    }
}
