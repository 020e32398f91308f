//! A TCP forwarder the harness puts between the nodes and RabbitMQ, so that
//! it can cut their connections mid-traffic (as a network would) while the
//! broker itself stays up.

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
    stop: CancellationToken,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let live = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (target, generation, stopped) = (target.to_owned(), live.clone(), stop.clone());
        tokio::spawn(async move {
            while let Some(accepted) = stopped.run_until_cancelled(listener.accept()).await {
                let Ok((client, _)) = accepted else { continue };
                let cut = generation
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                tokio::spawn(forward(client, target.clone(), cut));
            }
        });
        Ok(Self { addr, live, stop })
    }

    /// Cuts every connection open now (new ones go through).
    pub fn cut(&self) {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        live.cancel();
        *live = CancellationToken::new();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut();
    }
}

async fn forward(mut client: TcpStream, target: String, cut: CancellationToken) {
    let Ok(mut upstream) = TcpStream::connect(&target)
        .await
        .with_context(|| format!("connecting to {target}"))
    else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    // Dropping both streams when cut resets the connection on both sides.
    cut.run_until_cancelled(tokio::io::copy_bidirectional(&mut client, &mut upstream))
        .await;
}
