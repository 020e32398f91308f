//! `confab-dispatcher`: configuration, telemetry, then [`confab_dispatcher::run`]
//! until SIGTERM or Ctrl-C.

use clap::Parser;
use confab_common::shutdown::cancel_on_signal;
use confab_dispatcher::{Config, run};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// mimalloc, as on the node: the dispatcher allocates and frees a batch's
/// envelopes, frames and bundles every few milliseconds, and glibc's
/// allocator took 10.6 % of its CPU samples (the profile in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    confab_common::telemetry::init();
    let config = Config::parse();
    config.validate()?;
    let listener = TcpListener::bind(config.health_addr).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run(config, listener, shutdown).await
}
