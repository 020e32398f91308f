//! One process of the cluster (a node or a dispatcher): started, killed,
//! stopped with SIGTERM, paused with SIGSTOP; its stderr appended to a log
//! file that survives its restarts.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// One process of the cluster.
pub struct Proc {
    pub name: String,
    pub program: PathBuf,
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
}

impl Proc {
    pub fn log_file(&self) -> PathBuf {
        std::env::temp_dir().join(format!("{}.log", self.name))
    }

    pub fn spawn(&mut self) -> anyhow::Result<()> {
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

    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    pub async fn terminate(&mut self) -> anyhow::Result<()> {
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

    /// Sends `signal` (e.g. `-STOP`, `-CONT`) to the process.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("{} is not running", self.name))?;
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .await?;
        if !status.success() {
            bail!("kill {signal} {} failed", self.name);
        }
        Ok(())
    }
}

/// Runs `program` with `args`; an error unless it succeeds.
pub(crate) async fn sh(program: &str, args: &[&str]) -> anyhow::Result<()> {
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

/// Output of a command that must succeed.
pub(crate) async fn output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!("{program} {args:?} failed: {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
