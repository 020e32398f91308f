//! Keeps this node alive in presence: one heartbeat every
//! [`HEARTBEAT_INTERVAL`] keeps every local connection present. When Redis
//! turns out to have lost the node's record (it restarted, or was
//! unreachable long enough for the record to lapse), the node registers all
//! its connections again and asks them to catch up from the logs, since
//! the dispatcher saw them as offline meanwhile.

use std::sync::Arc;

use confab_common::NodeId;
use confab_common::presence::{HEARTBEAT_INTERVAL, Presence};
use tokio_util::sync::CancellationToken;

use crate::delivery::hub::Hub;

/// Beats until `shutdown`, then removes the node from presence. The caller
/// has made the first beat before serving.
pub async fn heartbeat_loop(
    presence: Presence,
    node: NodeId,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = interval.tick() => {},
        }
        match presence.heartbeat(node, hub.incarnation()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "presence was lost (Redis restarted?); registering connections again"
                );
                match presence.register(&hub.connections()).await {
                    Ok(()) => hub.catch_up_all(),
                    Err(e) => tracing::warn!(error = %e, "cannot register connections"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "presence heartbeat failed"),
        }
    }
    if let Err(e) = presence.remove_node(node, hub.incarnation()).await {
        tracing::warn!(error = %e, "cannot remove the node from presence");
    }
}
