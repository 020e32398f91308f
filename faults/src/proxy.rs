//! A TCP forwarder the harness puts between Confab and a RabbitMQ member,
//! so that it can cut the connections mid-traffic (as a reset would, while
//! the broker itself stays up) or partition the link (as a network would:
//! nothing answered, nothing reset, until it heals).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The forwarder: every connection to `addr` is forwarded to the target.
#[derive(Debug)]
pub struct Proxy {
    pub addr: String,
    /// Cancelled to cut every connection open now; replaced by a new one.
    live: Arc<Mutex<CancellationToken>>,
    /// Cancelled while the link is partitioned (replaced when it heals).
    partition: Arc<Mutex<Option<Partition>>>,
    stop: CancellationToken,
}

/// A partition in force: `stalled` is cancelled when it starts (every
/// forward stops moving bytes), `healed` when it ends (every connection
/// held meanwhile is dropped).
#[derive(Debug, Clone)]
struct Partition {
    stalled: CancellationToken,
    healed: CancellationToken,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let live = Arc::new(Mutex::new(CancellationToken::new()));
        let partition = Arc::new(Mutex::new(Some(Partition::new())));
        let stop = CancellationToken::new();
        let (target, generation, stopped) = (target.to_owned(), live.clone(), stop.clone());
        let partitions = partition.clone();
        tokio::spawn(async move {
            while let Some(accepted) = stopped.run_until_cancelled(listener.accept()).await {
                let Ok((client, _)) = accepted else { continue };
                let cut = lock(&generation).clone();
                let partition = lock(&partitions).clone().unwrap_or_else(Partition::new);
                tokio::spawn(forward(client, target.clone(), cut, partition));
            }
        });
        Ok(Self {
            addr,
            live,
            partition,
            stop,
        })
    }

    /// Cuts every connection open now (new ones go through).
    pub fn cut(&self) {
        let mut live = lock(&self.live);
        live.cancel();
        *live = CancellationToken::new();
    }

    /// Partitions the link: from now on no byte moves either way and no
    /// connection is refused or reset, until [`Proxy::heal`].
    pub fn partition(&self) {
        if let Some(p) = lock(&self.partition).as_ref() {
            p.stalled.cancel();
        }
    }

    /// Ends a partition: the connections it held are dropped, new ones go
    /// through.
    pub fn heal(&self) {
        let mut current = lock(&self.partition);
        if let Some(p) = current.as_ref() {
            p.healed.cancel();
        }
        *current = Some(Partition::new());
    }
}

impl Partition {
    fn new() -> Self {
        Self {
            stalled: CancellationToken::new(),
            healed: CancellationToken::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.heal();
        self.cut();
    }
}

async fn forward(mut client: TcpStream, target: String, cut: CancellationToken, link: Partition) {
    if link.stalled.is_cancelled() {
        // Partitioned: accepted, never answered, dropped when it heals.
        link.healed.cancelled().await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&target)
        .await
        .with_context(|| format!("connecting to {target}"))
    else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    // Dropping both streams when cut resets the connection on both sides;
    // a partition stops the copy and holds both until it heals.
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        () = cut.cancelled() => {}
        () = link.stalled.cancelled() => link.healed.cancelled().await,
    }
}
