//! The gateway the simulated users connect through: Debian's nginx with the
//! repository's `nginx/confab.conf`, rendered by `scripts/gateway.sh` with a
//! static upstream of the harness's nodes (as the local cluster does).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// nginx in front of the nodes; killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    pub addr: String,
    pub dir: PathBuf,
    _process: Child,
}

impl Gateway {
    /// Renders the configuration for `nodes` and starts nginx on a free port.
    pub async fn start(nodes: &[String], port: u16) -> anyhow::Result<Self> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::temp_dir().join(format!(
            "confab-faults-gateway-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let addr = format!("127.0.0.1:{port}");
        let status = Command::new("bash")
            .arg(root.join("scripts/gateway.sh"))
            .arg("render")
            .arg(&dir)
            .arg(&addr)
            .args(nodes)
            .status()
            .await
            .context("running scripts/gateway.sh")?;
        if !status.success() {
            bail!("scripts/gateway.sh render failed");
        }
        let process = Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(&dir)
            // One process, so that killing it leaves no worker behind.
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting nginx (Debian's package)")?;
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("http://{addr}/livez"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Self {
                    addr,
                    dir,
                    _process: process,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("nginx did not answer on {addr}")
    }

    /// The gateway's logs (access and error), as they are now.
    pub fn logs(&self) -> String {
        ["access.log", "error.log"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
