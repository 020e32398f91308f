//! The command line: global options and one subcommand per scenario. Each
//! scenario's options live beside its code (`scenario/*.rs`).

use std::path::PathBuf;

use crate::report::ReportOptions;
use crate::scenario::broker::BrokerOptions;
use crate::scenario::connections::ConnectionsOptions;
use crate::scenario::direct::DirectOptions;
use crate::scenario::group::GroupOptions;
use crate::scenario::offline::OfflineOptions;
use crate::scenario::xmpp::XmppOptions;

pub use crate::target::Target;

/// Confab's load generator.
#[derive(Debug, clap::Parser)]
#[command(name = "confab-bench", version, about)]
pub struct Cli {
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Where to write the run's JSON (default: `<out-dir>/<scenario>-<unix time>.json`).
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,

    /// Directory for the JSON results when `--json` is not given.
    #[arg(long, global = true, default_value = "target/confab-bench")]
    pub out_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// The scenarios.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// N idle authenticated WebSockets from several 127.0.0.x addresses:
    /// connect rate, node memory per connection, heartbeat health.
    Connections(ConnectionsOptions),
    /// Friend pairs messaging each other: delivered/s, end-to-end and
    /// `sent` latency, lost and duplicated.
    Direct(DirectOptions),
    /// One group, some members offline: fan-out deliveries/s and latency.
    Group(GroupOptions),
    /// K messages stored for an offline user, then the time to drain them.
    Offline(OfflineOptions),
    /// RabbitMQ alone: publish → consume → publish → consume through two
    /// durable queues with persistent messages and confirms.
    Broker(BrokerOptions),
    /// `direct` against an XMPP server (ejabberd, started by
    /// `bench/peers/ejabberd.sh start` and `… users N`) over XMPP over
    /// WebSocket: the same pairs, windows and figures, for a side-by-side
    /// comparison (`report` prints Confab ÷ ejabberd for matching labels).
    Xmpp(XmppOptions),
    /// An SVG (latency distributions, throughput) and a table of medians
    /// from JSON results.
    Report(ReportOptions),
}
