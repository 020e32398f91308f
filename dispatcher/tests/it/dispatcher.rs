//! Dispatchers for a test: `confab_dispatcher::run` in the test's runtime,
//! configured for the bed's database, key prefix and queue prefix, stopped
//! by its shutdown token as SIGTERM would.

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::bed::{PATIENCE, TestBed, amqp_url, redis_url};

impl TestBed {
    /// Starts a dispatcher on this bed's servers; `home`: its home shards
    /// (`DISPATCHER_SHARDS`), `None` for all. It stands by for the others at
    /// once.
    pub async fn start_dispatcher(&self, home: Option<Vec<u16>>) -> RunningDispatcher {
        let mut config = confab_dispatcher::Config::try_parse_from([
            "confab-dispatcher",
            "--database-url",
            &self.database_url,
            "--redis-url",
            &redis_url(),
            "--amqp-url",
            &amqp_url(),
        ])
        .expect("dispatcher configuration");
        // Set here rather than by flags so that the environment the tests
        // run in cannot add any (`DISPATCHER_SHARDS`, `CONSUL_HTTP_ADDR`…).
        config.database.database_max_connections = 4;
        config.redis.redis_key_prefix = self.redis_prefix.clone();
        config.redis.redis_cluster_nodes = Vec::new();
        config.amqp.amqp_prefix = self.amqp_prefix.clone();
        config.amqp.input_shards = self.topology.shards();
        config.amqp.amqp_timeout_ms = 5_000;
        config.consul.consul_http_addr = None;
        config.consul.consul_http_token = None;
        config.prefetch = 1024;
        config.batch = 256;
        config.home_shards = home;
        config.standby_after_ms = 0;
        config.retention_days = None;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let shutdown = CancellationToken::new();
        let run = confab_dispatcher::run(config, listener, shutdown.clone());
        RunningDispatcher {
            shutdown,
            task: tokio::spawn(run),
        }
    }
}

/// A dispatcher running in the test's runtime.
pub struct RunningDispatcher {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningDispatcher {
    /// Tells it to stop (its shutdown token), without waiting.
    pub fn cancel(&self) {
        self.shutdown.cancel();
    }

    /// Stops it as SIGTERM would (its shutdown token) and waits until it
    /// has finished: every batch it took is acked or back in its shard.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the dispatcher did not stop")
            .expect("dispatcher task")
            .expect("the dispatcher stopped cleanly");
    }
}
