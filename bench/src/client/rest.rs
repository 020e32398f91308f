//! REST calls the scenarios need to set up: register users, make them
//! friends (request + accept), create a group. Calls are spread over the
//! target URLs; 429 (the gateway's rate limit) and 503 are retried with a
//! bounded back-off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every bench user has this password.
const PASSWORD: &str = "confab-bench-password";
/// Attempts per call when the server answers 429 or 503.
const ATTEMPTS: u32 = 30;
/// Calls in flight during set-up. Registration hashes a password (the node
/// runs at most one hash per core), so more would only queue.
const SETUP_CONCURRENCY: usize = 8;

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub token: String,
}

/// A REST client over one or more base URLs.
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    bases: Vec<url::Url>,
    next: AtomicUsize,
}

impl Api {
    /// A client of `bases` (at least one).
    pub fn new(bases: &[url::Url]) -> anyhow::Result<Self> {
        if bases.is_empty() {
            bail!("at least one --url is needed");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            bases: bases.to_vec(),
            next: AtomicUsize::new(0),
        })
    }

    /// `method path` with a token and a JSON body; the JSON answer of a 2xx.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let base = &self.bases[self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len()];
        let url = base
            .join(path)
            .with_context(|| format!("{base} + {path}"))?;
        let mut delay = Duration::from_millis(200);
        for _ in 0..ATTEMPTS {
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
            let bytes = response.bytes().await.context("reading the answer")?;
            if !status.is_success() {
                bail!(
                    "{method} {path}: {status}: {}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .with_context(|| format!("{method} {path}: the answer is not JSON"));
        }
        bail!("{method} {path}: still refused (429/503) after {ATTEMPTS} attempts")
    }

    /// Registers `username`.
    pub async fn register(&self, username: &str) -> anyhow::Result<User> {
        let body = json!({"username": username, "password": PASSWORD});
        let answer = self
            .call(Method::POST, "/api/auth/register", None, Some(&body))
            .await?;
        Ok(User {
            id: answer["user"]["id"]
                .as_i64()
                .context("register: no user id in the answer")?,
            username: username.to_owned(),
            token: answer["token"]
                .as_str()
                .context("register: no token in the answer")?
                .to_owned(),
        })
    }

    /// Registers `count` users named `{prefix}{i}`, in order, a few at a time.
    pub async fn register_many(
        &self,
        prefix: &str,
        count: usize,
        progress: &indicatif::ProgressBar,
    ) -> anyhow::Result<Vec<User>> {
        futures_util::stream::iter(0..count)
            .map(|i| async move {
                let user = self.register(&format!("{prefix}{i}")).await;
                progress.inc(1);
                user
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Makes `a` and `b` friends: `a` asks, `b` accepts.
    pub async fn befriend(&self, a: &User, b: &User) -> anyhow::Result<()> {
        let request = self
            .call(
                Method::POST,
                "/api/friends/requests",
                Some(&a.token),
                Some(&json!({"user_id": b.id})),
            )
            .await?;
        let id = request["id"]
            .as_i64()
            .context("friend request: no id in the answer")?;
        self.call(
            Method::POST,
            &format!("/api/friends/requests/{id}/accept"),
            Some(&b.token),
            None,
        )
        .await?;
        Ok(())
    }

    /// Makes every pair friends, a few pairs at a time.
    pub async fn befriend_many(
        &self,
        pairs: &[(&User, &User)],
        progress: &indicatif::ProgressBar,
    ) -> anyhow::Result<()> {
        futures_util::stream::iter(pairs)
            .map(|(a, b)| async move {
                let done = self.befriend(a, b).await;
                progress.inc(1);
                done
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Creates a group owned by `owner` with `members` (the owner's friends).
    pub async fn create_group(
        &self,
        owner: &User,
        name: &str,
        members: &[i64],
    ) -> anyhow::Result<i64> {
        let group = self
            .call(
                Method::POST,
                "/api/groups",
                Some(&owner.token),
                Some(&json!({"name": name, "member_ids": members})),
            )
            .await?;
        group["id"]
            .as_i64()
            .context("create group: no id in the answer")
    }
}
