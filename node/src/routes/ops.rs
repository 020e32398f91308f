//! Routes for operators rather than clients: `/health` (the deep check
//! Consul runs), `/livez` (the process answers) and `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// The operator routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/livez", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
}

/// 200 with a JSON report when Postgres, Redis and RabbitMQ all answer; 503
/// naming what failed otherwise.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.probe.check().await;
    let status = if report.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// Prometheus text exposition.
async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        confab_common::telemetry::prometheus().render(),
    )
}
