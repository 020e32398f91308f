//! What to run: the harness's one configuration, from flags (and
//! `CONFAB_FAULTS_LOG`).

use clap::Parser;

/// Which engines the cluster under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    Single,
    Cluster,
}

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
    /// The engines Confab runs on: `single` (this machine's RabbitMQ and
    /// Redis, the faults of [`crate::fault::Fault::SINGLE`]) or `cluster`
    /// (a 3-member RabbitMQ cluster and a 3-master Redis Cluster the
    /// harness starts beside them, the faults of
    /// [`crate::fault::Fault::CLUSTER`]).
    #[arg(long, value_enum, default_value_t = Topology::Single)]
    pub topology: Topology,
    /// Only these faults (default: all of the topology's), e.g. `--only node-kill,redis-restart`.
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
