//! The dispatcher's operator routes: `/health` (Postgres, Redis and
//! RabbitMQ really answer), `/livez`, `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use confab_common::health::Probe;

/// The operator routes, checking dependencies with `probe`.
pub fn router(probe: Probe) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    confab_common::telemetry::prometheus().render(),
                )
            }),
        )
        .with_state(probe)
}

async fn health(State(probe): State<Probe>) -> impl IntoResponse {
    let report = probe.check().await;
    let status = if report.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
