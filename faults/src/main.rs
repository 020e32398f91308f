//! `confab-faults`: the flags, then [`confab_faults::run`], which exits
//! non-zero on any violated guarantee (`docs/guarantees.md`).

use clap::Parser;
use confab_faults::{Config, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run(Config::parse()).await
}
