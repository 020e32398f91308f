//! The clustered engines of `--topology cluster`: a 3-member RabbitMQ
//! cluster and a Redis Cluster of 3 masters with a replica each, started
//! beside this machine's own services by the project's scripts
//! (`scripts/rabbitmq-cluster.sh`, `scripts/redis-cluster.sh`, the same
//! that `scripts/confab up --cluster` runs) in a directory of the run's,
//! and stopped with it. Every Confab process reaches each RabbitMQ member
//! through a [`Proxy`] of its own, so that one member's link can be cut.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::process::{output, sh};
use crate::proxy::Proxy;

/// The RabbitMQ members: (node name, AMQP port). Not the names and ports
/// of `scripts/confab up --cluster` (`confab-c*`, 5673–5675), so that both
/// may run; the script is told them at the first start of the directory.
pub const MEMBERS: [(&str, u16); 3] = [
    ("confab-f1@localhost", 5683),
    ("confab-f2@localhost", 5684),
    ("confab-f3@localhost", 5685),
];
const MEMBER_NAME: &str = "confab-f";
const FIRST_AMQP_PORT: &str = "5683";
const FIRST_DIST_PORT: &str = "25683";
/// The Redis Cluster's first port (six processes from here): not the
/// local cluster's 7000, so that both may run.
const REDIS_BASE: u16 = 7200;
const REDIS_PROCESSES: u16 = 6;

/// The engines and the proxies in front of the RabbitMQ members.
pub struct Engines {
    dir: PathBuf,
    pub proxies: Vec<Proxy>,
}

impl Engines {
    /// Starts both clusters in `dir` and a proxy per RabbitMQ member.
    pub async fn start(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let d = dir.to_string_lossy().into_owned();
        let rabbit = format!("{d}/rabbitmq");
        let redis = format!("{d}/redis");
        let base = REDIS_BASE.to_string();
        let started = Command::new("scripts/rabbitmq-cluster.sh")
            .args(["start", &rabbit])
            .env("RABBITMQ_CLUSTER_NAME", MEMBER_NAME)
            .env("RABBITMQ_CLUSTER_PORT", FIRST_AMQP_PORT)
            .env("RABBITMQ_CLUSTER_DIST_PORT", FIRST_DIST_PORT)
            .stdout(Stdio::null())
            .status()
            .await
            .context("running scripts/rabbitmq-cluster.sh")?;
        if !started.success() {
            bail!("starting the RabbitMQ cluster failed: {started}");
        }
        sh("scripts/redis-cluster.sh", &["start", &redis, &base])
            .await
            .context("starting the Redis Cluster")?;
        let mut proxies = Vec::new();
        for (_, port) in MEMBERS {
            proxies.push(Proxy::start(&format!("127.0.0.1:{port}")).await?);
        }
        Ok(Self { dir, proxies })
    }

    /// `AMQP_URL`: every member, through its proxy.
    pub fn amqp_urls(&self, query: &str) -> String {
        self.proxies
            .iter()
            .map(|p| format!("amqp://guest:guest@{}/%2f{query}", p.addr))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `REDIS_CLUSTER_NODES`: every process, as seeds.
    pub fn redis_nodes(&self) -> String {
        (0..REDIS_PROCESSES)
            .map(|i| format!("redis://127.0.0.1:{}", REDIS_BASE + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn rabbit_dir(&self) -> String {
        format!("{}/rabbitmq", self.dir.to_string_lossy())
    }

    fn redis_dir(&self) -> String {
        format!("{}/redis", self.dir.to_string_lossy())
    }

    /// How many of the queues named `prefix…` each member leads (members
    /// that lead none included), asked of any running member.
    pub async fn leaders(&self, prefix: &str) -> anyhow::Result<BTreeMap<usize, usize>> {
        let mut counts: BTreeMap<usize, usize> = (0..MEMBERS.len()).map(|i| (i, 0)).collect();
        let mut last = None;
        for (node, _) in MEMBERS {
            let args = [
                "-n",
                node,
                "-q",
                "list_queues",
                "name",
                "leader",
                "--formatter",
                "json",
            ];
            match output("rabbitmqctl", &args).await {
                Ok(json) => {
                    let queues: Vec<serde_json::Value> =
                        serde_json::from_str(&json).context("list_queues output")?;
                    for q in queues {
                        let name = q["name"].as_str().unwrap_or_default();
                        let leader = q["leader"].as_str().unwrap_or_default();
                        if let Some(i) = MEMBERS.iter().position(|(n, _)| *n == leader)
                            && name.starts_with(prefix)
                        {
                            *counts.entry(i).or_default() += 1;
                        }
                    }
                    return Ok(counts);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no RabbitMQ member answered")))
    }

    /// SIGKILL of member `i`'s Erlang VM.
    pub async fn kill_member(&self, i: usize) -> anyhow::Result<()> {
        let n = (i + 1).to_string();
        let pid = output(
            "scripts/rabbitmq-cluster.sh",
            &["pid", &self.rabbit_dir(), &n],
        )
        .await?;
        sh("kill", &["-KILL", pid.trim()]).await
    }

    /// Stops member `i` gracefully (its VM exits).
    pub async fn stop_member(&self, i: usize) -> anyhow::Result<()> {
        sh("rabbitmqctl", &["-n", MEMBERS[i].0, "-q", "stop"]).await
    }

    /// Starts member `i` again and waits until it has rejoined.
    pub async fn start_member(&self, i: usize) -> anyhow::Result<()> {
        let n = (i + 1).to_string();
        sh(
            "scripts/rabbitmq-cluster.sh",
            &["start-node", &self.rabbit_dir(), &n],
        )
        .await
    }

    /// The Redis masters now: (port, pid).
    pub async fn redis_masters(&self) -> anyhow::Result<Vec<(u16, String)>> {
        let mut masters = Vec::new();
        for port in REDIS_BASE..REDIS_BASE + REDIS_PROCESSES {
            let p = port.to_string();
            let Ok(role) = output("redis-cli", &["-p", &p, "role"]).await else {
                continue;
            };
            if role.lines().next() == Some("master") {
                let info = output("redis-cli", &["-p", &p, "info", "server"]).await?;
                let pid = info
                    .lines()
                    .find_map(|l| l.strip_prefix("process_id:"))
                    .map(|s| s.trim().to_owned())
                    .context("no process_id")?;
                masters.push((port, pid));
            }
        }
        Ok(masters)
    }

    /// Waits (30 s at most) until every slot is served: a killed master's
    /// replica was promoted by the cluster.
    pub async fn wait_redis_ok(&self) -> anyhow::Result<Duration> {
        let started = tokio::time::Instant::now();
        loop {
            let mut ok = 0;
            for port in REDIS_BASE..REDIS_BASE + REDIS_PROCESSES {
                let p = port.to_string();
                if let Ok(info) = output("redis-cli", &["-p", &p, "cluster", "info"]).await
                    && info.contains("cluster_state:ok")
                {
                    ok += 1;
                }
            }
            let masters = self.redis_masters().await?.len();
            if ok > 0 && masters >= 3 && self.all_up_agree(ok).await {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the Redis Cluster did not recover within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether every running Redis process says the cluster is ok.
    async fn all_up_agree(&self, ok: usize) -> bool {
        let mut up = 0;
        for port in REDIS_BASE..REDIS_BASE + REDIS_PROCESSES {
            if output("redis-cli", &["-p", &port.to_string(), "ping"])
                .await
                .is_ok()
            {
                up += 1;
            }
        }
        up == ok
    }

    /// Starts the Redis process of `port` again (it rejoins as a replica).
    pub async fn start_redis(&self, port: u16) -> anyhow::Result<()> {
        sh(
            "scripts/redis-cluster.sh",
            &["start-node", &self.redis_dir(), &port.to_string()],
        )
        .await
    }

    /// Stops both clusters and removes their directory.
    pub async fn stop(&self) {
        let _ = sh("scripts/rabbitmq-cluster.sh", &["stop", &self.rabbit_dir()]).await;
        let _ = sh("scripts/redis-cluster.sh", &["stop", &self.redis_dir()]).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
