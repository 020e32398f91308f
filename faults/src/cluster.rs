//! The cluster under test: a database, key and queue prefixes of its own, a
//! dispatcher and two nodes as real processes, and the faults.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How many nodes the harness runs.
pub const NODES: usize = 2;

/// The faults, each injected once, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    NodeKill,
    NodeTerm,
    DispatcherKill,
    ClientDrops,
    RabbitRestart,
    RedisRestart,
    PostgresRestart,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::NodeKill,
        Fault::NodeTerm,
        Fault::DispatcherKill,
        Fault::ClientDrops,
        Fault::RabbitRestart,
        Fault::RedisRestart,
        Fault::PostgresRestart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::NodeKill => "node-kill",
            Fault::NodeTerm => "node-term",
            Fault::DispatcherKill => "dispatcher-kill",
            Fault::ClientDrops => "client-drops",
            Fault::RabbitRestart => "rabbitmq-restart",
            Fault::RedisRestart => "redis-restart",
            Fault::PostgresRestart => "postgres-restart",
        }
    }

    pub fn restarts_a_service(self) -> bool {
        matches!(
            self,
            Fault::RabbitRestart | Fault::RedisRestart | Fault::PostgresRestart
        )
    }
}

/// One process of the cluster.
struct Proc {
    name: String,
    program: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Proc {
    fn log_file(&self) -> PathBuf {
        std::env::temp_dir().join(format!("{}.log", self.name))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        // Appended to, so that a process restarted by a fault keeps the log
        // of its previous life.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())?;
        let child = Command::new(&self.program)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    async fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await?;
            }
            match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
                Ok(status) => {
                    let status = status?;
                    if !status.success() {
                        bail!("{} exited with {status} after SIGTERM", self.name);
                    }
                }
                Err(_) => {
                    let _ = child.kill().await;
                    bail!("{} did not stop within 20 s of SIGTERM", self.name);
                }
            }
        }
        Ok(())
    }
}

/// The cluster.
pub struct Cluster {
    http: reqwest::Client,
    db_name: String,
    database_url: String,
    redis_prefix: String,
    amqp_prefix: String,
    nodes: Vec<Proc>,
    node_addrs: Vec<String>,
    dispatcher: Proc,
    dispatcher_addr: String,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn sh(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .await
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} {args:?} failed: {status}");
    }
    Ok(())
}

impl Cluster {
    /// Creates and migrates a database, then starts a dispatcher and the
    /// nodes, each logging at `log` (a `RUST_LOG` filter) to a file in the
    /// temporary directory.
    pub async fn start(bin: &Path, log: &str) -> anyhow::Result<Self> {
        let run = uuid::Uuid::new_v4().simple().to_string();
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
        let redis_prefix = format!("confab-faults-{}:", &run[..12]);
        let amqp_prefix = format!("confab-faults-{}.", &run[..12]);
        let secret = format!("{run}{run}");
        let common = vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("REDIS_KEY_PREFIX".to_owned(), redis_prefix.clone()),
            ("AMQP_PREFIX".to_owned(), amqp_prefix.clone()),
            ("JWT_SECRET".to_owned(), secret),
            ("RUST_LOG".to_owned(), log.to_owned()),
            ("SHUTDOWN_GRACE_SECS".to_owned(), "10".to_owned()),
            ("WS_SEND_RATE".to_owned(), "1000".to_owned()),
            ("WS_SEND_BURST".to_owned(), "1000".to_owned()),
            // Every harness user signs up and logs in from this machine.
            ("REGISTER_PER_ADDRESS".to_owned(), "100000".to_owned()),
            ("LOGIN_PER_ADDRESS".to_owned(), "100000".to_owned()),
        ];
        let dispatcher_addr = format!("127.0.0.1:{}", free_port()?);
        let mut env = common.clone();
        env.push(("HEALTH_ADDR".to_owned(), dispatcher_addr.clone()));
        let mut dispatcher = Proc {
            name: format!("confab-faults-dispatcher-{}", &run[..6]),
            program: bin.join("confab-dispatcher"),
            env,
            child: None,
        };
        dispatcher.spawn()?;
        let mut nodes = Vec::new();
        let mut node_addrs = Vec::new();
        for id in 1..=NODES {
            let addr = format!("127.0.0.1:{}", free_port()?);
            let mut env = common.clone();
            env.push(("LISTEN_ADDR".to_owned(), addr.clone()));
            env.push(("NODE_ID".to_owned(), id.to_string()));
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
        let cluster = Self {
            http: reqwest::Client::new(),
            db_name,
            database_url,
            redis_prefix,
            amqp_prefix,
            nodes,
            node_addrs,
            dispatcher,
            dispatcher_addr,
        };
        cluster.wait_healthy().await?;
        Ok(cluster)
    }

    /// `http://` address of the first node.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.node_addrs[0])
    }

    /// The cluster's database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// (name, `host:port`) of every process that serves `/metrics`.
    pub fn metric_targets(&self) -> Vec<(String, String)> {
        let mut targets: Vec<(String, String)> = self
            .node_addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| (format!("node{}", i + 1), addr.clone()))
            .collect();
        targets.push(("dispatcher".to_owned(), self.dispatcher_addr.clone()));
        targets
    }

    /// Where each process writes its log.
    pub fn log_files(&self) -> Vec<PathBuf> {
        self.nodes
            .iter()
            .chain(std::iter::once(&self.dispatcher))
            .map(|p| p.log_file())
            .collect()
    }

    /// The HTTP client the harness uses.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Every node's `host:port`.
    pub fn node_addrs(&self) -> Vec<String> {
        self.node_addrs.clone()
    }

    /// Waits until the dispatcher and every node answer `/health` with 200.
    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let mut targets = vec![self.dispatcher_addr.clone()];
        targets.extend(self.node_addrs.iter().cloned());
        for target in targets {
            let mut ok = false;
            for _ in 0..300 {
                if self
                    .http
                    .get(format!("http://{target}/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    ok = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !ok {
                bail!("{target} did not become healthy");
            }
        }
        Ok(())
    }

    /// Injects `fault`.
    pub async fn inject(&mut self, fault: Fault) -> anyhow::Result<()> {
        match fault {
            Fault::NodeKill => self.nodes[1].kill().await,
            Fault::NodeTerm => self.nodes[1].terminate().await?,
            Fault::DispatcherKill => self.dispatcher.kill().await,
            // The clients do this one (see `Traffic::set_dropping`).
            Fault::ClientDrops => {}
            Fault::RabbitRestart => {
                sh("rabbitmqctl", &["-q", "stop_app"]).await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                sh("rabbitmqctl", &["-q", "start_app"]).await?;
                sh("rabbitmqctl", &["-q", "await_startup"]).await?;
            }
            Fault::RedisRestart => {
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
                .await?;
            }
            Fault::PostgresRestart => {
                let version = std::fs::read_dir("/etc/postgresql")?
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .max()
                    .context("no PostgreSQL cluster")?;
                sh(
                    "pg_ctlcluster",
                    &[
                        "--skip-systemctl-redirect",
                        &version,
                        "main",
                        "stop",
                        "-m",
                        "fast",
                    ],
                )
                .await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                sh(
                    "pg_ctlcluster",
                    &["--skip-systemctl-redirect", &version, "main", "start"],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Puts back what `fault` took away and waits until everything is healthy.
    pub async fn heal(&mut self, fault: Fault) -> anyhow::Result<()> {
        match fault {
            Fault::NodeKill | Fault::NodeTerm => self.nodes[1].spawn()?,
            Fault::DispatcherKill => self.dispatcher.spawn()?,
            _ => {}
        }
        self.wait_healthy().await
    }

    /// Stops everything and removes what the run created.
    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.terminate().await;
        }
        let _ = self.dispatcher.terminate().await;
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
        for queue in [
            "input",
            "input.1",
            "input.2",
            "input.3",
            "input.dead",
            "node.1",
            "node.2",
        ] {
            let _ = sh(
                "rabbitmqctl",
                &[
                    "-q",
                    "delete_queue",
                    &format!("{}{queue}", self.amqp_prefix),
                ],
            )
            .await;
        }
    }
}
