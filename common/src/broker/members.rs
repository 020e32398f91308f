//! The brokers a process may use: one RabbitMQ, or the members of a
//! cluster, each with its own pool of connections. lapin connects to one
//! address and has no notion of a cluster, so moving between members is
//! ours: every connection is asked of the member that served the last one;
//! when it cannot give one (refused, timed out, handshake unanswered), the
//! next member is asked, and so on once round the list. The member that
//! answers is used from then on (sticky: a member that comes back does not
//! take its clients back, which would move every node queue again).
//!
//! What waits between failed rounds is the caller's own reconnect loop
//! (`retry::Backoff`, the one retry policy); here each member gets one try
//! per round, bounded by the broker timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_lapin::{Pool, Timeouts};

use super::BrokerError;

/// The heartbeat asked of the broker when a URL names none, in seconds. A
/// member whose link is cut answers nothing and sends no RST: its
/// connections look open until two heartbeats are missed. RabbitMQ's
/// default (60 s) would leave a node's consumer and publisher on a dead
/// member for two minutes.
const HEARTBEAT_SECS: u16 = 5;

/// A connection leased from one member's pool.
#[derive(Debug)]
pub struct Leased {
    pub(super) object: deadpool_lapin::Object,
    pub(super) member: usize,
}

impl Leased {
    /// Which member (the URL's position in the list) it is connected to.
    pub fn member(&self) -> usize {
        self.member
    }

    /// Takes the connection out of its pool, for a caller that keeps it
    /// to itself and closes it (a dispatcher's shard).
    pub fn take(self) -> (lapin::Connection, usize) {
        (deadpool_lapin::Object::take(self.object), self.member)
    }
}

impl std::ops::Deref for Leased {
    type Target = lapin::Connection;

    fn deref(&self) -> &lapin::Connection {
        &self.object
    }
}

/// The members and which one is asked first.
#[derive(Clone)]
pub(super) struct Members {
    pools: Arc<[Member]>,
    first: Arc<AtomicUsize>,
}

struct Member {
    pool: Pool,
    /// `host:port`, for logs (the URL carries credentials).
    label: String,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.pools.iter().map(|m| m.label.as_str()).collect();
        f.debug_struct("Members")
            .field("members", &labels)
            .field("first", &self.first.load(Ordering::Relaxed))
            .finish()
    }
}

impl Members {
    /// One pool per comma-separated URL of `urls`.
    pub(super) fn new(
        urls: &str,
        name: &str,
        max_size: usize,
        timeout: Duration,
    ) -> Result<Self, deadpool_lapin::CreatePoolError> {
        let pools: Vec<Member> = split(urls)
            .into_iter()
            .map(|url| {
                Ok(Member {
                    label: label(&url),
                    pool: pool(&with_heartbeat(&url), name, max_size, timeout)?,
                })
            })
            .collect::<Result<_, deadpool_lapin::CreatePoolError>>()?;
        Ok(Self {
            pools: pools.into(),
            first: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A connection of the first member that gives one, starting with the
    /// one that gave the last.
    pub(super) async fn connection(&self) -> Result<Leased, BrokerError> {
        let n = self.pools.len();
        let first = self.first.load(Ordering::Relaxed) % n;
        let mut failure = None;
        for step in 0..n {
            let member = (first + step) % n;
            match self.pools[member].pool.get().await {
                Ok(object) => {
                    if step > 0 {
                        self.prefer(first, member);
                    }
                    return Ok(Leased { object, member });
                }
                Err(e) => {
                    if n > 1 {
                        tracing::warn!(
                            broker = %self.pools[member].label,
                            error = %e,
                            "cannot connect to this RabbitMQ member; trying the next"
                        );
                    }
                    failure = Some(e);
                }
            }
        }
        Err(BrokerError::Connect(
            failure.unwrap_or_else(|| deadpool_lapin::PoolError::Closed),
        ))
    }

    /// See [`super::Broker::distrust`].
    pub(super) fn distrust(&self, member: usize) {
        let n = self.pools.len();
        let Some(failed) = self.pools.get(member) else {
            return;
        };
        failed.pool.retain(|_, _| false);
        if n > 1 {
            self.prefer(member, (member + 1) % n);
        }
    }

    /// Moves the first choice from `from` to `to`, unless another task
    /// moved it already.
    fn prefer(&self, from: usize, to: usize) {
        if self
            .first
            .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            tracing::warn!(broker = %self.pools[to].label, "RabbitMQ: moved to this member");
        }
    }
}

/// The pool of one member: `create` bounds the TCP connect *and* the AMQP
/// handshake, which lapin itself never gives up on; `wait` bounds waiting
/// for a free connection; `recycle` is a status check and never waits.
fn pool(
    url: &str,
    name: &str,
    max_size: usize,
    timeout: Duration,
) -> Result<Pool, deadpool_lapin::CreatePoolError> {
    let mut pool = deadpool_lapin::PoolConfig::new(max_size);
    pool.timeouts = Timeouts {
        wait: Some(timeout),
        create: Some(timeout),
        recycle: Some(timeout),
    };
    let config = deadpool_lapin::Config {
        url: Some(url.to_owned()),
        pool: Some(pool),
    };
    let name = name.to_owned();
    config.create_pool(
        move || lapin::ConnectionProperties::default().with_connection_name(name.clone().into()),
        deadpool_lapin::Runtime::Tokio1,
    )
}

/// The URLs of a comma-separated list (blanks ignored; an empty list is
/// one empty URL, which fails at connect like any bad URL).
fn split(urls: &str) -> Vec<String> {
    let list: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        vec![urls.to_owned()]
    } else {
        list
    }
}

/// `url` asking for [`HEARTBEAT_SECS`], unless it asks for a heartbeat of
/// its own.
fn with_heartbeat(url: &str) -> String {
    if url.contains("heartbeat=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&heartbeat={HEARTBEAT_SECS}")
    } else {
        format!("{url}?heartbeat={HEARTBEAT_SECS}")
    }
}

/// `host:port` of an AMQP URL, without its credentials.
fn label(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(5672)
        ),
        Err(_) => "(invalid URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_split_and_each_url_gets_a_heartbeat() {
        assert_eq!(
            split(" amqp://a:5673/%2f , amqp://b:5674/%2f,"),
            ["amqp://a:5673/%2f", "amqp://b:5674/%2f"]
        );
        assert_eq!(split("amqp://a/%2f"), ["amqp://a/%2f"]);
        assert_eq!(
            with_heartbeat("amqp://a/%2f"),
            format!("amqp://a/%2f?heartbeat={HEARTBEAT_SECS}")
        );
        assert_eq!(
            with_heartbeat("amqp://a/%2f?frame_max=8192"),
            format!("amqp://a/%2f?frame_max=8192&heartbeat={HEARTBEAT_SECS}")
        );
        assert_eq!(
            with_heartbeat("amqp://a/%2f?heartbeat=30"),
            "amqp://a/%2f?heartbeat=30"
        );
        assert_eq!(
            label("amqp://guest:secret@10.0.0.2:5674/%2f"),
            "10.0.0.2:5674"
        );
        assert_eq!(label("amqp://guest:secret@rabbit/%2f"), "rabbit:5672");
    }

    /// A member that refuses connections is skipped, and the one that
    /// answers is asked first from then on.
    #[tokio::test]
    async fn a_connection_comes_from_the_next_member_when_one_is_down() {
        let refused = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr")
        };
        let real = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        let urls = format!("amqp://guest:guest@{refused}/%2f,{real}");
        let members =
            Members::new(&urls, "members test", 2, Duration::from_secs(5)).expect("pools");
        let leased = members
            .connection()
            .await
            .expect("the second member answers");
        assert_eq!(leased.member(), 1);
        assert!(leased.status().connected());
        assert_eq!(members.first.load(Ordering::Relaxed), 1);
        drop(leased);
        // Distrusting the only live member moves the first choice round to
        // the dead one, which fails, and back.
        members.distrust(1);
        assert_eq!(members.first.load(Ordering::Relaxed), 0);
        let again = members.connection().await.expect("round the list again");
        assert_eq!(again.member(), 1);
    }
}
