//! The faults, and how each is injected and healed.

use std::time::Duration;

use anyhow::Context;

use crate::cluster::{Cluster, NODES};
use crate::diagnose;
use crate::ledger::Ledger;
use crate::process::sh;

/// How long a paused process (Postgres, a dispatcher) stays paused.
const PAUSE: Duration = Duration::from_secs(5);
/// How long the users may take to be connected again after each node of a
/// rolling restart has drained.
pub const RECONNECT_LIMIT: Duration = Duration::from_secs(5);

/// The faults, each injected once, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    NodeKill,
    NodeTerm,
    RollingRestart,
    DispatcherKill,
    DispatcherPause,
    ClientDrops,
    AmqpCut,
    RabbitRestart,
    RedisRestart,
    PostgresRestart,
    PostgresPause,
    BrokerLeaderKill,
    BrokerStop,
    RedisMasterKill,
    BrokerLinkCut,
}

impl Fault {
    /// The faults of the clustered engines (`--topology cluster`), in
    /// this order.
    pub const CLUSTER: [Fault; 4] = [
        Fault::BrokerLeaderKill,
        Fault::BrokerStop,
        Fault::RedisMasterKill,
        Fault::BrokerLinkCut,
    ];

    pub const SINGLE: [Fault; 11] = [
        Fault::NodeKill,
        Fault::NodeTerm,
        Fault::RollingRestart,
        Fault::DispatcherKill,
        Fault::DispatcherPause,
        Fault::ClientDrops,
        Fault::AmqpCut,
        Fault::RabbitRestart,
        Fault::RedisRestart,
        Fault::PostgresRestart,
        Fault::PostgresPause,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::NodeKill => "node-kill",
            Fault::NodeTerm => "node-term",
            Fault::RollingRestart => "rolling-restart",
            Fault::DispatcherKill => "dispatcher-kill",
            Fault::DispatcherPause => "dispatcher-pause",
            Fault::ClientDrops => "client-drops",
            Fault::AmqpCut => "amqp-cut",
            Fault::RabbitRestart => "rabbitmq-restart",
            Fault::RedisRestart => "redis-restart",
            Fault::PostgresRestart => "postgres-restart",
            Fault::PostgresPause => "postgres-pause",
            Fault::BrokerLeaderKill => "broker-leader-kill",
            Fault::BrokerStop => "broker-stop",
            Fault::RedisMasterKill => "redis-master-kill",
            Fault::BrokerLinkCut => "broker-link-cut",
        }
    }

    /// Whether it stops or pauses one of this machine's services (for a
    /// machine shared with other work: `--no-service-restarts`).
    pub fn touches_a_service(self) -> bool {
        matches!(
            self,
            Fault::RabbitRestart
                | Fault::RedisRestart
                | Fault::PostgresRestart
                | Fault::PostgresPause
        )
    }
}

/// What an injection observed, beside the ledger's verdict.
#[derive(Debug, Default)]
pub struct Observed {
    /// Lines for the details below the table.
    pub notes: Vec<String>,
    /// A guarantee of the fault itself was broken (reconnects too slow).
    pub failed: bool,
}

impl Cluster {
    /// Injects `fault` while `users` clients (recorded in `ledger`) chat.
    pub async fn inject(
        &mut self,
        fault: Fault,
        ledger: &Ledger,
        users: usize,
    ) -> anyhow::Result<Observed> {
        let mut observed = Observed::default();
        match fault {
            Fault::NodeKill => self.nodes[1].kill().await,
            Fault::NodeTerm => self.nodes[1].terminate().await?,
            Fault::RollingRestart => self.rolling_restart(ledger, users, &mut observed).await?,
            Fault::DispatcherKill => self.dispatchers[0].kill().await,
            Fault::DispatcherPause => {
                let active = self.active_dispatcher().await;
                observed
                    .notes
                    .push(format!("paused dispatcher{}", active + 1));
                self.dispatchers[active].signal("-STOP").await?;
                tokio::time::sleep(PAUSE).await;
                self.dispatchers[active].signal("-CONT").await?;
            }
            // The clients do this one (see `Traffic::set_dropping`).
            Fault::ClientDrops => {}
            Fault::AmqpCut => self.amqp[0].cut(),
            Fault::BrokerLeaderKill
            | Fault::BrokerStop
            | Fault::RedisMasterKill
            | Fault::BrokerLinkCut => self.inject_clustered(fault, &mut observed).await?,
            Fault::RabbitRestart => {
                sh("rabbitmqctl", &["-q", "stop_app"]).await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                sh("rabbitmqctl", &["-q", "start_app"]).await?;
                sh("rabbitmqctl", &["-q", "await_startup"]).await?;
            }
            Fault::RedisRestart => restart_redis().await?,
            Fault::PostgresRestart => restart_postgres().await?,
            Fault::PostgresPause => {
                // Every Postgres process: the postmaster and its backends.
                sh("pkill", &["-STOP", "-u", "postgres", "-x", "postgres"]).await?;
                tokio::time::sleep(PAUSE).await;
                sh("pkill", &["-CONT", "-u", "postgres", "-x", "postgres"]).await?;
            }
        }
        Ok(observed)
    }

    /// Puts back what `fault` took away and waits until everything is healthy.
    pub async fn heal(&mut self, fault: Fault) -> anyhow::Result<()> {
        match fault {
            Fault::NodeKill | Fault::NodeTerm => self.nodes[1].spawn()?,
            Fault::DispatcherKill => self.dispatchers[0].spawn()?,
            Fault::BrokerLeaderKill
            | Fault::BrokerStop
            | Fault::RedisMasterKill
            | Fault::BrokerLinkCut => self.heal_clustered().await?,
            _ => {}
        }
        self.wait_healthy().await
    }

    /// Every node in turn: SIGTERM (it leaves, closing its sockets with
    /// 1001) and, once it has exited, every user must be connected again
    /// (through the gateway, to the nodes left) within [`RECONNECT_LIMIT`];
    /// then it is started again and must be healthy before the next one
    /// drains (whose users the gateway must then send to it).
    async fn rolling_restart(
        &mut self,
        ledger: &Ledger,
        users: usize,
        observed: &mut Observed,
    ) -> anyhow::Result<()> {
        for index in 0..NODES {
            let draining = tokio::time::Instant::now();
            self.nodes[index].terminate().await?;
            let drained = draining.elapsed();
            let note = match ledger.wait_all_connected(users, RECONNECT_LIMIT).await {
                Ok(took) => format!(
                    "node{} drained in {} ms; every user connected again {} ms after it exited",
                    index + 1,
                    drained.as_millis(),
                    took.as_millis()
                ),
                Err(e) => {
                    observed.failed = true;
                    format!("node{} drained: {e:#}  << VIOLATION", index + 1)
                }
            };
            observed.notes.push(note);
            self.nodes[index].spawn()?;
            let addr = self.node_addr(index).to_owned();
            self.wait_healthy_at(&addr).await?;
        }
        Ok(())
    }

    /// The dispatcher consuming `input` now: the one whose envelope count
    /// moves (the first if none does).
    async fn active_dispatcher(&self) -> usize {
        let targets: Vec<(String, String)> = self
            .metric_targets()
            .into_iter()
            .filter(|(name, _)| name.starts_with("dispatcher"))
            .collect();
        let envelopes = |metrics: &diagnose::Metrics, name: &str| {
            metrics
                .value(name, "confab_dispatch_envelopes_total")
                .unwrap_or(0.0)
        };
        let before = diagnose::scrape(self.http(), &targets).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = diagnose::scrape(self.http(), &targets).await;
        targets
            .iter()
            .position(|(name, _)| envelopes(&after, name) > envelopes(&before, name))
            .unwrap_or(0)
    }
}

async fn restart_redis() -> anyhow::Result<()> {
    let _ = sh("redis-cli", &["-h", "127.0.0.1", "shutdown", "nosave"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sh(
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
    )
    .await
}

async fn restart_postgres() -> anyhow::Result<()> {
    let version = std::fs::read_dir("/etc/postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .max()
        .context("no PostgreSQL cluster")?;
    let stop = [
        "--skip-systemctl-redirect",
        &version,
        "main",
        "stop",
        "-m",
        "fast",
    ];
    sh("pg_ctlcluster", &stop).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sh(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", "start"],
    )
    .await
}
