//! `confab-bench`: parse the command line, run one scenario, exit. Everything
//! else lives in the library so that the smoke test drives the same code.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = confab_bench::Cli::parse();
    confab_bench::run(cli).await
}
