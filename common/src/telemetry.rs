//! Logging set-up shared by the binaries.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); JSON lines when
/// `LOG_FORMAT=json`, for log shippers.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init` so that tests which start several services in one process
    // do not fail on the second call.
    let _ = if json {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
}

/// The Prometheus recorder of this process, installed on first use. The
/// `metrics` facade is process-global by design; this is its one handle.
pub fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ])
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        crate::metric::MESSAGE_STAGE_SECONDS.to_owned(),
                    ),
                    crate::metric::STAGE_BUCKETS,
                )
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| {
                metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
            });
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then this
        // handle renders nothing, which the tests would show.
        let _ = metrics::set_global_recorder(recorder);
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every few seconds.
/// A recorder made with `build_recorder` does it only when rendered: with
/// no Prometheus scraping, every sample stayed in memory (the soak saw the
/// dispatcher grow by 1.5 MB a minute at 1,000 msg/s). A thread of its own,
/// so that it outlives any one runtime (tests run many).
fn spawn_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    let upkeep = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = upkeep {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are folded only when scraped");
    }
}
