//! The faults of the clustered engines (`--topology cluster`): a RabbitMQ
//! member killed or stopped, a Redis master killed, one member's link cut.
//! Each is the engines' own failover at work (quorum queues elect a new
//! leader; Redis Cluster promotes a replica); Confab's part is to move to
//! a member that answers and to catch its connections up.

use std::time::Duration;

use anyhow::Context;

use crate::cluster::Cluster;
use crate::fault::{Fault, Observed};

/// How long a member's link stays cut.
const LINK_CUT: Duration = Duration::from_secs(6);

impl Cluster {
    fn engines(&self) -> anyhow::Result<&crate::engines::Engines> {
        self.engines
            .as_ref()
            .context("a cluster fault needs --topology cluster")
    }

    /// Injects one fault of [`Fault::CLUSTER`].
    pub(crate) async fn inject_clustered(
        &mut self,
        fault: Fault,
        observed: &mut Observed,
    ) -> anyhow::Result<()> {
        let engines = self.engines()?;
        let prefix = self.amqp_prefix().to_owned();
        match fault {
            Fault::BrokerLeaderKill => {
                let leaders = engines.leaders(&prefix).await?;
                let (member, led) = leaders
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(m, n)| (*m, *n))
                    .unwrap_or((0, 0));
                observed.notes.push(format!(
                    "leaders of the input shards per member before: {leaders:?}; SIGKILL of member {} (leads {led})",
                    member + 1
                ));
                engines.kill_member(member).await?;
                self.downed = Some(member);
                self.struck = Some(member);
                // Down for a while under traffic, then back.
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Fault::BrokerStop => {
                let leaders = engines.leaders(&prefix).await?;
                // Another member than the one the last fault killed: of
                // the others, the one leading the most shards now.
                let member = leaders
                    .iter()
                    .filter(|(m, _)| Some(**m) != self.struck)
                    .max_by_key(|(_, n)| **n)
                    .map_or(1, |(m, _)| *m);
                observed.notes.push(format!(
                    "leaders before: {leaders:?}; graceful stop of member {}",
                    member + 1
                ));
                engines.stop_member(member).await?;
                self.downed = Some(member);
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Fault::RedisMasterKill => {
                let masters = engines.redis_masters().await?;
                let (port, pid) = masters.first().cloned().context("no Redis master")?;
                crate::process::sh("kill", &["-KILL", &pid]).await?;
                let promoted = engines.wait_redis_ok().await?;
                observed.notes.push(format!(
                    "SIGKILL of the Redis master on port {port}; every slot served again (replica promoted) after {} ms",
                    promoted.as_millis()
                ));
                self.redis_downed = Some(port);
            }
            Fault::BrokerLinkCut => {
                let leaders = engines.leaders(&prefix).await?;
                let member = leaders
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map_or(0, |(m, _)| *m);
                observed.notes.push(format!(
                    "the link to member {} partitioned for {} s (nothing answered, nothing reset); leaders before: {leaders:?}",
                    member + 1,
                    LINK_CUT.as_secs()
                ));
                engines.proxies[member].partition();
                tokio::time::sleep(LINK_CUT).await;
                engines.proxies[member].heal();
            }
            _ => {}
        }
        Ok(())
    }

    /// Brings back what [`Cluster::inject_clustered`] took down.
    pub(crate) async fn heal_clustered(&mut self) -> anyhow::Result<()> {
        if let Some(member) = self.downed.take() {
            self.engines()?
                .start_member(member)
                .await
                .with_context(|| format!("starting member {} again", member + 1))?;
        }
        if let Some(port) = self.redis_downed.take() {
            let engines = self.engines()?;
            engines.start_redis(port).await?;
            engines.wait_redis_ok().await?;
        }
        Ok(())
    }
}
