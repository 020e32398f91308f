//! Registration with the local Consul agent, over its HTTP API
//! (`/v1/agent/service/register`, `/v1/agent/service/{id}`,
//! `/v1/agent/service/deregister/{id}`).
//!
//! A process registers at start, retrying with backoff while the agent is
//! unreachable (and serving meanwhile); checks every `CONSUL_RECHECK_SECS`
//! that the agent still knows it and registers again if not (an agent
//! restart forgets services); and deregisters *first* when it stops, so that
//! Nginx stops sending it clients before it stops accepting them.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::ConsulConfig;
use crate::retry::Backoff;

/// What Consul is told about this process.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// Unique per instance (e.g. `confab-node-3`).
    #[serde(rename = "ID")]
    pub id: String,
    /// The service name Nginx's template looks up (e.g. `confab-node`).
    pub name: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub check: Check,
}

/// The HTTP check Consul runs against the process.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Check {
    #[serde(rename = "HTTP")]
    pub http: String,
    pub interval: String,
    pub timeout: String,
    /// A process that stays critical this long is removed by the agent.
    pub deregister_critical_service_after: String,
}

impl Service {
    /// A service whose check is `GET http://address:port{health_path}` every
    /// 10 s, removed after a minute of failing.
    pub fn new(
        id: String,
        name: &str,
        tags: &[&str],
        address: String,
        port: u16,
        health_path: &str,
    ) -> Self {
        let http = format!("http://{}:{port}{health_path}", bracket_v6(&address));
        Self {
            id,
            name: name.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            address,
            port,
            check: Check {
                http,
                interval: "10s".to_owned(),
                timeout: "2s".to_owned(),
                deregister_critical_service_after: "1m".to_owned(),
            },
        }
    }
}

fn bracket_v6(address: &str) -> String {
    if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_owned()
    }
}

/// A client of the local agent for one service instance.
#[derive(Debug, Clone)]
pub struct Agent {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
    service: Service,
    recheck: Duration,
}

impl Agent {
    /// An agent client for `service`, or `None` when no agent is configured.
    pub fn from_config(config: &ConsulConfig, service: Service) -> anyhow::Result<Option<Self>> {
        let Some(base) = config.consul_http_addr.clone() else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Some(Self {
            http,
            base,
            token: config
                .consul_http_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            service,
            recheck: Duration::from_secs(config.consul_recheck_secs.max(1)),
        }))
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        Ok(self.base.join(path)?)
    }

    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.header("X-Consul-Token", token),
            None => request,
        }
    }

    /// `PUT /v1/agent/service/register`.
    pub async fn register(&self) -> anyhow::Result<()> {
        self.request(
            reqwest::Method::PUT,
            self.url("/v1/agent/service/register")?,
        )
        .json(&self.service)
        .send()
        .await?
        .error_for_status()?;
        Ok(())
    }

    /// Whether the agent still has this instance (`GET /v1/agent/service/{id}`).
    pub async fn is_registered(&self) -> anyhow::Result<bool> {
        let response = self
            .request(
                reqwest::Method::GET,
                self.url(&format!("/v1/agent/service/{}", self.service.id))?,
            )
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        response.error_for_status()?;
        Ok(true)
    }

    /// `PUT /v1/agent/service/deregister/{id}`.
    pub async fn deregister(&self) -> anyhow::Result<()> {
        self.request(
            reqwest::Method::PUT,
            self.url(&format!("/v1/agent/service/deregister/{}", self.service.id))?,
        )
        .send()
        .await?
        .error_for_status()?;
        tracing::info!(service_id = %self.service.id, "deregistered from Consul");
        Ok(())
    }

    /// Keeps the registration in place until `stop`: registers (retrying
    /// with backoff), then re-registers whenever the agent lost it. Does not
    /// deregister; the caller does that first thing when it stops.
    pub async fn keep_registered(self, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            match self.register().await {
                Ok(()) => {
                    tracing::info!(service_id = %self.service.id, "registered with Consul");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register with Consul; retrying");
                    if !backoff.wait(&stop).await {
                        return;
                    }
                }
            }
        }
        let mut interval = tokio::time::interval(self.recheck);
        interval.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = interval.tick() => {},
            }
            match self.is_registered().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(service_id = %self.service.id, "Consul lost the registration; registering again");
                    if let Err(e) = self.register().await {
                        tracing::warn!(error = %e, "cannot register with Consul");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot reach the Consul agent"),
            }
        }
    }
}

/// This process in Consul, from [`Membership::join`] to
/// [`Membership::leave`]: the one lifecycle of the node and the dispatcher.
#[derive(Debug)]
pub struct Membership {
    /// `None` when no Consul is configured.
    agent: Option<Agent>,
    /// Stops [`Agent::keep_registered`].
    stop: CancellationToken,
}

impl Membership {
    /// How long leaving may wait for the agent.
    const LEAVE_WITHIN: Duration = Duration::from_secs(3);

    /// Registers `service` with the agent of `config` (if one is
    /// configured) and keeps it registered, on a task of its own, until
    /// [`Membership::leave`].
    pub fn join(config: &ConsulConfig, service: Service) -> anyhow::Result<Self> {
        let agent = Agent::from_config(config, service)?;
        let stop = CancellationToken::new();
        if let Some(agent) = agent.clone() {
            tokio::spawn(agent.keep_registered(stop.clone()));
        }
        Ok(Self { agent, stop })
    }

    /// Stops keeping the registration and deregisters, waiting at most
    /// [`Self::LEAVE_WITHIN`]. The first shutdown step, so that Nginx stops
    /// sending clients here before the process stops accepting them.
    pub async fn leave(&self) {
        self.stop.cancel();
        let Some(agent) = &self.agent else {
            return;
        };
        match tokio::time::timeout(Self::LEAVE_WITHIN, agent.deregister()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot deregister from Consul"),
            Err(_) => tracing::warn!("Consul did not answer the deregistration in time"),
        }
    }
}
