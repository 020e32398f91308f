//! `confab-node`: configuration, telemetry, then [`confab_node::run`] until
//! SIGTERM or Ctrl-C.

use clap::Parser;
use confab_common::shutdown::cancel_on_signal;
use confab_node::{Config, run};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// mimalloc gives freed memory back to the system: with glibc's allocator a
/// node kept about half a MiB of every password hash (argon2 takes 19 MiB
/// each), 460 MB after 1,000 sign-ups (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    confab_common::telemetry::init();
    let config = Config::parse();
    config.validate()?;
    let listener = TcpListener::bind(config.listen_addr).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run(config, listener, shutdown).await
}
