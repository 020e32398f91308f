//! Confab's load generator. It speaks only the public contract
//! (`docs/protocol.md`): REST to register users, befriend them and make
//! groups, WebSocket to send, receive and ack. So it can point at a node, at
//! nginx or at a deployment elsewhere. The two exceptions measure what
//! Confab is compared with: the `broker` scenario measures RabbitMQ alone
//! (raw AMQP, no Confab code) so that Confab's figures can be quoted as a
//! fraction of the broker's ceiling, and `xmpp` runs `direct`'s traffic
//! against ejabberd over XMPP, so that they can be quoted beside a peer's.
//!
//! Every scenario is bounded in count and time and ends by itself; each
//! prints a table and writes a JSON [`output::RunRecord`], from which
//! `report` draws an SVG.

pub mod cli;
pub mod client;
pub mod output;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod stages;
pub mod stats;
pub mod target;

use std::time::Instant;

pub use cli::{Cli, Command};

/// What every scenario gets besides its own options.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Hide progress bars (tests, pipes).
    pub quiet: bool,
    /// A short random tag of this run: usernames, queue names.
    pub run_id: String,
    /// The clock latencies are measured with.
    pub clock: Clock,
}

impl Ctx {
    /// A context with a fresh run id.
    pub fn new(quiet: bool) -> Self {
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Self {
            quiet,
            run_id,
            clock: Clock::new(),
        }
    }
}

/// A monotonic clock shared by every task of a run. Senders write
/// [`Clock::now`] into the message body; the receiver, in the same process,
/// subtracts it from its own [`Clock::now`]: no wall clock is involved.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Nanoseconds since the clock started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The clock time of `instant` (a timer's deadline, for instance).
    pub fn at(&self, instant: tokio::time::Instant) -> u64 {
        let since = instant.into_std().saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Nanoseconds from `then` (a [`Clock::now`] value) until now.
    pub fn since(&self, then: u64) -> u64 {
        self.now().saturating_sub(then)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the scenario the command line names, prints its table and writes its
/// JSON.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::new(cli.quiet);
    let record = match cli.command {
        Command::Connections(o) => scenario::connections::run(&ctx, &o).await?,
        Command::Direct(o) => scenario::direct::run(&ctx, &o).await?,
        Command::Group(o) => scenario::group::run(&ctx, &o).await?,
        Command::Offline(o) => scenario::offline::run(&ctx, &o).await?,
        Command::Broker(o) => scenario::broker::run(&ctx, &o).await?,
        Command::Xmpp(o) => scenario::xmpp::run(&ctx, &o).await?,
        Command::Report(o) => return report::run(&o),
    };
    print!("{}", output::table(&record));
    let path = output::write_json(&record, cli.json.as_deref(), &cli.out_dir)?;
    println!("results: {}", path.display());
    Ok(())
}
