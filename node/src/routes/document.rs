//! The OpenAPI document lists every status a route can answer: besides the
//! route's own, the generic ones its shape implies (a body, path or query
//! parameters, a token) and the ones any route may meet (429 from a limit or
//! the gateway, 500, 503). They are added here, from the routes themselves,
//! so that a new route cannot forget them.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// The 503 of register and log-in, beside the generic one: they wait for
/// the password hasher.
pub const BUSY_SIGN_IN: &str =
    "busy: too many sign-ups and log-ins wait for the password hasher (Retry-After: 1)";

/// The 503 of the other routes that check a password.
pub const BUSY_HASHING: &str =
    "busy: too many requests wait for the password hasher (Retry-After: 1)";

/// A generic answer: status, component name, what it says.
struct Generic {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    retry_after: bool,
}

const BAD_REQUEST: Generic = Generic {
    status: "400",
    name: "BadRequest",
    description: "malformed_body (a body that is not JSON), invalid_path (a path id that is not a 64-bit integer), invalid_query",
    retry_after: false,
};
const UNAUTHORIZED: Generic = Generic {
    status: "401",
    name: "Unauthorized",
    description: "missing_token, invalid_token, token_expired, token_revoked",
    retry_after: false,
};
const NOT_FOUND: Generic = Generic {
    status: "404",
    name: "NotFound",
    description: "not_found: a path that matches no route (an id that is not one path segment)",
    retry_after: false,
};
const TOO_LARGE: Generic = Generic {
    status: "413",
    name: "TooLarge",
    description: "too_large: the body is over 64 KiB (the node's MAX_BODY_BYTES, or the gateway)",
    retry_after: false,
};
const UNSUPPORTED_MEDIA_TYPE: Generic = Generic {
    status: "415",
    name: "UnsupportedMediaType",
    description: "unsupported_media_type: a body without `Content-Type: application/json`",
    retry_after: false,
};
const UNPROCESSABLE: Generic = Generic {
    status: "422",
    name: "Unprocessable",
    description: "invalid_field: JSON that does not fit the body's schema",
    retry_after: false,
};
const RATE_LIMITED: Generic = Generic {
    status: "429",
    name: "RateLimited",
    description: "rate_limited: over the user's request rate, the address's sign-up or log-in allowance, or the gateway's per-address limits; login_delayed on log-in. Nothing changed; retry after Retry-After",
    retry_after: true,
};
const INTERNAL: Generic = Generic {
    status: "500",
    name: "Internal",
    description: "internal: a server bug (details are logged, never sent)",
    retry_after: false,
};
const UNAVAILABLE: Generic = Generic {
    status: "503",
    name: "Unavailable",
    description: "unavailable: Postgres or Redis did not answer, or no node is up (the gateway); busy on the routes that hash passwords. Retry shortly",
    retry_after: true,
};

/// Adds the generic answers to every operation of `doc`, and their shared
/// definitions to its components.
pub fn add_generic_responses(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for generic in [
        &BAD_REQUEST,
        &UNAUTHORIZED,
        &NOT_FOUND,
        &TOO_LARGE,
        &UNSUPPORTED_MEDIA_TYPE,
        &UNPROCESSABLE,
        &RATE_LIMITED,
        &INTERNAL,
        &UNAVAILABLE,
    ] {
        components
            .responses
            .insert(generic.name.to_owned(), RefOr::T(response(generic)));
    }
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            for generic in applicable(operation) {
                operation
                    .responses
                    .responses
                    .entry(generic.status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(generic.name)));
            }
        }
    }
}

/// The generic answers `operation` can give, from its shape.
fn applicable(operation: &Operation) -> Vec<&'static Generic> {
    let located = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let mut generic = vec![&RATE_LIMITED, &INTERNAL, &UNAVAILABLE];
    let has_body = operation.request_body.is_some();
    if has_body || located(ParameterIn::Path) || located(ParameterIn::Query) {
        generic.push(&BAD_REQUEST);
    }
    if located(ParameterIn::Path) {
        generic.push(&NOT_FOUND);
    }
    if has_body {
        generic.extend([&TOO_LARGE, &UNSUPPORTED_MEDIA_TYPE, &UNPROCESSABLE]);
    }
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        generic.push(&UNAUTHORIZED);
    }
    generic
}

/// The shared response: the error body, and `Retry-After` where it is sent.
fn response(generic: &Generic) -> Response {
    let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
    let mut response = ResponseBuilder::new()
        .description(generic.description)
        .content("application/json", body);
    if generic.retry_after {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        let header = HeaderBuilder::new()
            .schema(Some(seconds))
            .description(Some("whole seconds to wait before retrying"))
            .build();
        response = response.header("Retry-After", header);
    }
    response.build()
}
