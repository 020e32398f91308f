//! The operator routes both binaries serve ([`routes`]): `/health`, the
//! deep check Consul runs, which really talks to Postgres, Redis and
//! RabbitMQ, each within [`CHECK_TIMEOUT`], and names what failed;
//! `/livez` (the process answers); `/metrics` (Prometheus).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// How long one dependency may take to answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of one dependency's check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub ok: bool,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/health`'s body.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `ok` when every check passed, `unavailable` otherwise.
    pub status: &'static str,
    pub checks: BTreeMap<&'static str, CheckResult>,
}

impl Report {
    /// Whether every dependency answered.
    pub fn healthy(&self) -> bool {
        self.checks.values().all(|c| c.ok)
    }
}

/// Checks the three dependencies.
#[derive(Clone)]
pub struct Probe {
    pub db: DatabaseConnection,
    pub redis: crate::redis::Redis,
    pub amqp: crate::broker::Broker,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").finish_non_exhaustive()
    }
}

impl Probe {
    /// Runs the checks concurrently.
    pub async fn check(&self) -> Report {
        let (postgres, redis, rabbitmq) = tokio::join!(
            timed(async { self.db.ping().await.map_err(|e| e.to_string()) }),
            // In a cluster, PING goes to every master: healthy means every
            // slot can be served.
            timed(async {
                redis::cmd("PING")
                    .query_async::<String>(&mut self.redis.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
            timed(async {
                let connection = self.amqp.connection().await.map_err(|e| e.to_string())?;
                if connection.status().connected() {
                    Ok(())
                } else {
                    Err("connection not open".to_owned())
                }
            }),
        );
        let checks = BTreeMap::from([
            ("postgres", postgres),
            ("redis", redis),
            ("rabbitmq", rabbitmq),
        ]);
        let status = if checks.values().all(|c| c.ok) {
            "ok"
        } else {
            "unavailable"
        };
        Report { status, checks }
    }
}

async fn timed(check: impl Future<Output = Result<(), String>>) -> CheckResult {
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")));
    CheckResult {
        ok: outcome.is_ok(),
        latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: outcome.err(),
    }
}

/// `/health`, `/livez` and `/metrics`, checking dependencies with `probe`;
/// merged into either binary's router.
pub fn routes<S: Clone + Send + Sync + 'static>(probe: Probe) -> Router<S> {
    Router::new()
        .route("/health", get(health))
        .route("/livez", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(probe)
}

/// 200 with the report when Postgres, Redis and RabbitMQ all answer; 503
/// naming what failed otherwise.
async fn health(State(probe): State<Probe>) -> impl IntoResponse {
    let report = probe.check().await;
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
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}
