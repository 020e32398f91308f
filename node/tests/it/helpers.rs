//! `TestApp`: a node started on port 0 with its own database and Redis
//! prefix, and typed helpers to talk to it.

#![allow(dead_code)]

use std::sync::Arc;

use clap::Parser;
use confab_common::UserId;
use confab_common::presence::Presence;
use confab_migrations::{Migrator, MigratorTrait};
use confab_node::Config;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The secret the test nodes sign with.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// Postgres server URL without a database name (`TEST_DATABASE_URL` overrides).
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Redis URL (`TEST_REDIS_URL` overrides).
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A running node and what it runs against.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub http: reqwest::Client,
    /// The test's own database, for checking what the API changed (or did not).
    pub db: DatabaseConnection,
    /// Presence under the test's own Redis prefix.
    pub presence: Presence,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: UserId,
    pub username: String,
    pub token: String,
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// Asserts the status and the error code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.body
        );
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.body
    }
}

impl TestApp {
    /// A node with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A node with extra command-line flags (e.g. `["--max-group-members", "3"]`).
    pub async fn spawn_with(extra: &[&str]) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("confab_test_{unique}");
        let admin = Database::connect(format!("{}/postgres", server_url()))
            .await
            .expect("connect to Postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let database_url = format!("{}/{db_name}", server_url());
        let db = Database::connect(&database_url)
            .await
            .expect("connect to the test database");
        Migrator::up(&db, None)
            .await
            .expect("migrate the test database");

        let prefix = format!("confab-test-{unique}:");
        let redis = redis_url();
        let mut args = vec![
            "confab-node",
            "--listen-addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--database-max-connections",
            "8",
            "--redis-url",
            &redis,
            "--redis-key-prefix",
            &prefix,
            "--jwt-secret",
            SECRET,
        ];
        args.extend_from_slice(extra);
        let config = Config::try_parse_from(args).expect("test configuration");

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let shutdown = CancellationToken::new();
        let redis = config.redis.connect().await.expect("connect to Redis");
        tokio::spawn(confab_node::run(config, listener, shutdown.clone()));

        let app = Self {
            base,
            http: reqwest::Client::new(),
            db,
            presence: Presence::new(redis, prefix),
            shutdown,
        };
        app.wait_until_serving().await;
        app
    }

    async fn wait_until_serving(&self) {
        for _ in 0..200 {
            if self
                .http
                .get(format!("{}/livez", self.base))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the node did not start");
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }

    /// Turns a response into a [`Reply`].
    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let bytes = response.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, body }
    }

    pub async fn get(&self, path: &str, user: &TestUser) -> Reply {
        self.call(Method::GET, path, Some(&user.token), None).await
    }

    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&user.token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&user.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, user: &TestUser) -> Reply {
        self.call(Method::DELETE, path, Some(&user.token), None)
            .await
    }

    /// Registers `username` with password `password123`.
    pub async fn register(&self, username: &str) -> TestUser {
        let body = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"username": username, "password": "password123"})),
            )
            .await
            .expect(201);
        TestUser {
            id: UserId(body["user"]["id"].as_i64().expect("user id")),
            username: username.to_owned(),
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// Makes `a` and `b` friends through the API.
    pub async fn befriend(&self, a: &TestUser, b: &TestUser) {
        let request = self
            .post("/api/friends/requests", a, json!({"user_id": b.id.0}))
            .await
            .expect(201);
        let id = request["id"].as_i64().expect("request id");
        self.post(&format!("/api/friends/requests/{id}/accept"), b, json!({}))
            .await
            .expect(200);
    }

    /// Creates a group owned by `owner` with `members`; returns its id.
    pub async fn create_group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> i64 {
        let ids: Vec<i64> = members.iter().map(|m| m.id.0).collect();
        let group = self
            .post(
                "/api/groups",
                owner,
                json!({"name": name, "member_ids": ids}),
            )
            .await
            .expect(201);
        group["id"].as_i64().expect("group id")
    }

    /// One number from the database, for "nothing changed" checks.
    pub async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql.to_owned(),
            ))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Marks `user` as connected (as a node would) so that `online` flags show it.
    pub async fn set_online(&self, user: &TestUser) {
        self.presence
            .register(user.id, "99:test")
            .await
            .expect("presence");
    }
}

/// Runs `n` copies of `f` at once and returns their results.
pub async fn concurrently<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let fut = f(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
