//! The HTTP surface of a node: every REST route of the contract, the OpenAPI
//! document generated from those same routes, and the fallbacks that keep
//! even unknown paths in the contract's error shape.

pub mod auth;
pub mod conversations;
pub mod document;
pub mod events;
pub mod friends;
pub mod groups;
pub mod limits;
pub mod me;
pub mod rules;
pub mod sessions;
pub mod users;

use axum::extract::DefaultBodyLimit;
use axum::handler::HandlerWithoutStateExt;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The OpenAPI document's fixed parts; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Confab REST API", description = "Accounts, profiles, friends, groups and history. See docs/protocol.md."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, log-in, log-out and WebSocket tickets"),
        (name = "me", description = "The caller's own account"),
        (name = "users", description = "Public profiles"),
        (name = "friends", description = "Friend requests and friendships"),
        (name = "groups", description = "Group chats and their members"),
        (name = "conversations", description = "Conversations, read positions and history"),
        (name = "limits", description = "The lengths the server enforces"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The AsyncAPI 3.0 document of the WebSocket protocol, written by hand
/// beside `docs/protocol.md` and checked against the wire types by the
/// node's tests and by `clients/js/test/asyncapi.test.mjs`.
pub const ASYNCAPI: &str = include_str!("../../../docs/asyncapi.json");

/// `GET /api/asyncapi.json`: [`ASYNCAPI`], as it is in the repository.
async fn asyncapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], ASYNCAPI)
}

/// The REST routes, with the OpenAPI document that describes exactly them.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(sessions::router())
        .merge(me::router())
        .merge(users::router())
        .merge(friends::router())
        .merge(groups::router())
        .merge(conversations::router())
        .merge(limits::router())
}

/// The whole HTTP application of a node, and its OpenAPI document.
pub fn router(state: AppState, config: &Config) -> (Router, utoipa::openapi::OpenApi) {
    let (api, mut openapi) = api().split_for_parts();
    document::add_generic_responses(&mut openapi);
    let document = openapi.clone();
    let app = api
        .route(
            "/api/openapi.json",
            get(move || async move { Json(document) }),
        )
        .route("/api/asyncapi.json", get(asyncapi))
        .merge(confab_common::health::routes(state.probe.clone()))
        .merge(crate::ws::router())
        // The JavaScript SDK, which the web client imports.
        .nest_service("/sdk", ServeDir::new(&config.sdk_root))
        // Anything else is a file of the web client, or the API's 404.
        .fallback_service(
            ServeDir::new(&config.web_root)
                .not_found_service((|| async { ApiError::not_found(ErrorCode::NotFound) }).into_service()),
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
            )
        })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // The path only: an old client's `/ws?token=…`, refused, must never reach a log.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state);
    (app, openapi)
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn the_asyncapi_route_serves_the_docs_file_as_json() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/asyncapi.json");
        let file = std::fs::read(path).unwrap();
        let response = super::asyncapi().await.into_response();
        assert_eq!(response.headers()["content-type"], "application/json");
        let served = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(served, file);
        let doc: serde_json::Value = serde_json::from_slice(&served).unwrap();
        assert_eq!(doc["asyncapi"], "3.0.0");
    }
}
