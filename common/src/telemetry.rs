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
