//! The cluster under test: a database, key and queue prefixes of its own,
//! two dispatchers (one active, one standing by), two nodes, all real
//! processes, the gateway (nginx) the users connect through, and a TCP
//! forwarder between the nodes and RabbitMQ that the harness can cut.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::config::Topology;
use crate::engines::Engines;
use crate::gateway::Gateway;
use crate::process::{Proc, sh};
use crate::proxy::Proxy;

/// How many nodes the harness runs.
pub const NODES: usize = 2;
/// How many dispatchers: the active one and a standby.
pub const DISPATCHERS: usize = 2;
/// RabbitMQ, as this machine runs it.
const RABBITMQ: &str = "127.0.0.1:5672";

/// The cluster.
pub struct Cluster {
    http: reqwest::Client,
    db_name: String,
    database_url: String,
    redis_prefix: String,
    amqp_prefix: String,
    pub(crate) nodes: Vec<Proc>,
    node_addrs: Vec<String>,
    pub(crate) dispatchers: Vec<Proc>,
    dispatcher_addrs: Vec<String>,
    pub(crate) gateway: Gateway,
    /// Between the nodes and RabbitMQ: one proxy (single topology), or
    /// one per member, for every process (cluster).
    pub(crate) amqp: Vec<Proxy>,
    /// The clustered engines, in the cluster topology.
    pub(crate) engines: Option<Engines>,
    /// The RabbitMQ member a fault took down, to start again.
    pub(crate) downed: Option<usize>,
    /// The Redis process (port) a fault killed, to start again.
    pub(crate) redis_downed: Option<u16>,
    /// The RabbitMQ member the last fault struck (the next strikes another).
    pub(crate) struck: Option<usize>,
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh, migrated database; returns its name and URL.
async fn database(bin: &Path, run: &str) -> anyhow::Result<(String, String)> {
    let db_name = format!("confab_faults_{}", &run[..12]);
    sh(
        "psql",
        &[
            "postgres://postgres@127.0.0.1:5432/postgres",
            "-qc",
            &format!("CREATE DATABASE {db_name}"),
        ],
    )
    .await?;
    let database_url = format!("postgres://postgres@127.0.0.1:5432/{db_name}");
    let migrate = Command::new(bin.join("migrate"))
        .arg("up")
        .env("DATABASE_URL", &database_url)
        .stdout(Stdio::null())
        .status()
        .await
        .context("running migrate")?;
    if !migrate.success() {
        bail!("migrate failed");
    }
    Ok((db_name, database_url))
}

impl Cluster {
    /// Creates and migrates a database, then starts the dispatchers, the
    /// nodes and the gateway, each process logging at `log` (a `RUST_LOG`
    /// filter) to a file in the temporary directory.
    pub async fn start(bin: &Path, log: &str, topology: Topology) -> anyhow::Result<Self> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let (db_name, database_url) = database(bin, &run).await?;
        let redis_prefix = format!("confab-faults-{}:", &run[..12]);
        let amqp_prefix = format!("confab-faults-{}.", &run[..12]);
        let engines = match topology {
            Topology::Single => None,
            Topology::Cluster => {
                // One directory for every run: what a killed run left
                // running is found there and used again, not doubled.
                let dir = std::env::temp_dir().join("confab-faults-engines");
                Some(Engines::start(dir).await?)
            }
        };
        let mut common = vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("REDIS_KEY_PREFIX".to_owned(), redis_prefix.clone()),
            ("AMQP_PREFIX".to_owned(), amqp_prefix.clone()),
            ("JWT_SECRET".to_owned(), format!("{run}{run}")),
            ("RUST_LOG".to_owned(), log.to_owned()),
            ("SHUTDOWN_GRACE_SECS".to_owned(), "10".to_owned()),
            ("WS_SEND_RATE".to_owned(), "1000".to_owned()),
            ("WS_SEND_BURST".to_owned(), "1000".to_owned()),
            // Every harness user signs up and logs in from this machine.
            ("REGISTER_PER_ADDRESS".to_owned(), "100000".to_owned()),
            ("LOGIN_PER_ADDRESS".to_owned(), "100000".to_owned()),
        ];
        // Short heartbeats: a paused dispatcher is declared dead by
        // RabbitMQ within seconds, and the standby takes over.
        let amqp_query = "?heartbeat=2";
        let (amqp, dispatcher_url) = match &engines {
            None => (
                vec![Proxy::start(RABBITMQ).await?],
                format!("amqp://guest:guest@{RABBITMQ}/%2f{amqp_query}"),
            ),
            Some(engines) => {
                common.push(("REDIS_CLUSTER_NODES".to_owned(), engines.redis_nodes()));
                // Three shards: their leaders spread over the members.
                common.push(("INPUT_SHARDS".to_owned(), "3".to_owned()));
                (Vec::new(), engines.amqp_urls(amqp_query))
            }
        };
        let mut dispatchers = Vec::new();
        let mut dispatcher_addrs = Vec::new();
        for i in 1..=DISPATCHERS {
            let addr = format!("127.0.0.1:{}", free_port()?);
            let mut env = common.clone();
            env.push(("HEALTH_ADDR".to_owned(), addr.clone()));
            env.push(("AMQP_URL".to_owned(), dispatcher_url.clone()));
            let mut dispatcher = Proc {
                name: format!("confab-faults-dispatcher{i}-{}", &run[..6]),
                program: bin.join("confab-dispatcher"),
                env,
                child: None,
            };
            dispatcher.spawn()?;
            dispatchers.push(dispatcher);
            dispatcher_addrs.push(addr);
        }
        let mut nodes = Vec::new();
        let mut node_addrs = Vec::new();
        for id in 1..=NODES {
            let addr = format!("127.0.0.1:{}", free_port()?);
            let mut env = common.clone();
            env.push(("LISTEN_ADDR".to_owned(), addr.clone()));
            env.push(("NODE_ID".to_owned(), id.to_string()));
            let url = match &engines {
                None => format!("amqp://guest:guest@{}/%2f", amqp[0].addr),
                Some(engines) => engines.amqp_urls(""),
            };
            env.push(("AMQP_URL".to_owned(), url));
            let mut node = Proc {
                name: format!("confab-faults-node{id}-{}", &run[..6]),
                program: bin.join("confab-node"),
                env,
                child: None,
            };
            node.spawn()?;
            nodes.push(node);
            node_addrs.push(addr);
        }
        let gateway = Gateway::start(&node_addrs, free_port()?).await?;
        let cluster = Self {
            http: reqwest::Client::new(),
            db_name,
            database_url,
            redis_prefix,
            amqp_prefix,
            nodes,
            node_addrs,
            dispatchers,
            dispatcher_addrs,
            gateway,
            amqp,
            engines,
            downed: None,
            redis_downed: None,
            struck: None,
        };
        cluster.wait_healthy().await?;
        Ok(cluster)
    }

    /// `http://` address of the gateway, where clients go.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.gateway.addr)
    }

    /// The gateway's `host:port`.
    pub fn gateway_addr(&self) -> String {
        self.gateway.addr.clone()
    }

    /// The prefix of the run's queues.
    pub fn amqp_prefix(&self) -> &str {
        &self.amqp_prefix
    }

    /// The cluster's database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// (name, `host:port`) of every process that serves `/metrics`.
    pub fn metric_targets(&self) -> Vec<(String, String)> {
        let nodes = self.node_addrs.iter().enumerate();
        let dispatchers = self.dispatcher_addrs.iter().enumerate();
        nodes
            .map(|(i, addr)| (format!("node{}", i + 1), addr.clone()))
            .chain(dispatchers.map(|(i, addr)| (format!("dispatcher{}", i + 1), addr.clone())))
            .collect()
    }

    /// Where each process writes its log.
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .nodes
            .iter()
            .chain(&self.dispatchers)
            .map(Proc::log_file)
            .collect();
        files.push(self.gateway.dir.join("error.log"));
        files
    }

    /// The HTTP client the harness uses.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Waits until every dispatcher and node answers `/health` with 200.
    pub async fn wait_healthy(&self) -> anyhow::Result<()> {
        let targets = self.dispatcher_addrs.iter().chain(&self.node_addrs);
        for target in targets {
            self.wait_healthy_at(target).await?;
        }
        Ok(())
    }

    /// Waits until `target` answers `/health` with 200 (30 s at most).
    pub async fn wait_healthy_at(&self, target: &str) -> anyhow::Result<()> {
        for _ in 0..300 {
            if self
                .http
                .get(format!("http://{target}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{target} did not become healthy")
    }

    /// Node `index`'s `host:port`.
    pub fn node_addr(&self, index: usize) -> &str {
        &self.node_addrs[index]
    }

    /// Stops everything and removes what the run created.
    pub async fn stop(&mut self) {
        for process in self.nodes.iter_mut().chain(&mut self.dispatchers) {
            let _ = process.signal("-CONT").await;
            let _ = process.terminate().await;
        }
        let _ = sh(
            "psql",
            &[
                "postgres://postgres@127.0.0.1:5432/postgres",
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name),
            ],
        )
        .await;
        let _ = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "redis-cli -h 127.0.0.1 --scan --pattern '{}*' | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null",
                self.redis_prefix
            ))
            .status()
            .await;
        if let Some(engines) = &self.engines {
            // The engines were the run's own: they go with it.
            engines.stop().await;
            return;
        }
        let queues = ["input", "input.dead", "node.1", "node.2"];
        for queue in queues {
            let name = format!("{}{queue}", self.amqp_prefix);
            let _ = sh("rabbitmqctl", &["-q", "delete_queue", &name]).await;
        }
    }
}
