//! What to run: the harness's one configuration, from flags (and
//! `CONFAB_FAULTS_LOG`).

use clap::Parser;

/// What to run.
#[derive(Debug, Parser)]
#[command(name = "confab-faults", about = "Fault-injection harness for Confab")]
pub struct Config {
    /// Directory of the built binaries (`confab-node`, `confab-dispatcher`, `migrate`).
    #[arg(long, default_value = "target/release")]
    pub bin: std::path::PathBuf,
    /// Simulated users (in friend pairs and groups of ten).
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Milliseconds between two new messages of one conversation (each user
    /// has two, one message in flight in each): 200 users at 150 ms offer
    /// up to 2,666 sends/s.
    #[arg(long, default_value_t = 150)]
    pub interval_ms: u64,
    /// Seconds of traffic per fault; the fault strikes a third of the way in.
    #[arg(long, default_value_t = 8)]
    pub seconds: u64,
    /// Seconds to wait for quiet after the traffic before judging.
    #[arg(long, default_value_t = 60)]
    pub settle: u64,
    /// Only these faults (default: all), e.g. `--only node-kill,redis-restart`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Do not restart Postgres, Redis or RabbitMQ (for a machine shared with
    /// other work).
    #[arg(long)]
    pub no_service_restarts: bool,
    /// The `RUST_LOG` filter of the nodes and the dispatcher, e.g.
    /// `info,lapin=debug`. Their logs go to the temporary directory.
    #[arg(long, env = "CONFAB_FAULTS_LOG", default_value = "warn")]
    pub log: String,
}
