//! Registration with Consul. A Consul server cannot be installed on the
//! machines this suite runs on, so the agent is a test double (wiremock)
//! that answers the documented agent HTTP API — the only stand-in in the
//! suite. What is checked is what Confab sends it: exact paths, methods and
//! field names, and the order of events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::TestApp;

/// Answers `GET /v1/agent/service/{id}` with 404 for its first `forget`
/// calls (an agent that restarted and lost the registration), then 200.
struct Forgetful {
    forget: AtomicUsize,
}

impl Respond for Forgetful {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.forget.load(Ordering::SeqCst) > 0 {
            self.forget.fetch_sub(1, Ordering::SeqCst);
            ResponseTemplate::new(404).set_body_string("unknown service ID")
        } else {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"ID": "confab-node-1"}))
        }
    }
}

/// Records, when the deregistration arrives, whether the node still accepts
/// connections (it must: deregistration comes first).
struct Deregister {
    node: String,
    accepting: Arc<AtomicBool>,
    called: Arc<AtomicBool>,
}

impl Respond for Deregister {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let accepting = std::net::TcpStream::connect_timeout(
            &self.node.parse().expect("node address"),
            Duration::from_millis(500),
        )
        .is_ok();
        self.accepting.store(accepting, Ordering::SeqCst);
        self.called.store(true, Ordering::SeqCst);
        ResponseTemplate::new(200)
    }
}

async fn registrations(consul: &MockServer) -> Vec<Value> {
    consul
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/v1/agent/service/register")
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect()
}

#[tokio::test]
async fn a_node_registers_reregisters_and_deregisters_first() {
    let consul = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/v1/agent/service/register"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consul)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/agent/service/confab-node-1"))
        .respond_with(Forgetful {
            forget: AtomicUsize::new(1),
        })
        .mount(&consul)
        .await;
    let mut app = TestApp::spawn_cluster(
        1,
        false,
        &[
            "--consul-http-addr",
            &consul.uri(),
            "--consul-recheck-secs",
            "1",
        ],
    )
    .await;
    let accepting = Arc::new(AtomicBool::new(false));
    let called = Arc::new(AtomicBool::new(false));
    Mock::given(method("PUT"))
        .and(path("/v1/agent/service/deregister/confab-node-1"))
        .respond_with(Deregister {
            node: app.nodes[0].addr.clone(),
            accepting: accepting.clone(),
            called: called.clone(),
        })
        .mount(&consul)
        .await;

    // Registered at start, with the check Consul runs.
    let mut first = Vec::new();
    for _ in 0..100 {
        first = registrations(&consul).await;
        if !first.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let service = first.first().expect("a registration").clone();
    let port: u16 = app.nodes[0]
        .addr
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(service["ID"], "confab-node-1");
    assert_eq!(service["Name"], "confab-node");
    assert_eq!(service["Address"], "127.0.0.1");
    assert_eq!(service["Port"], port);
    assert!(
        service["Tags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ws"))
    );
    assert_eq!(
        service["Check"]["HTTP"],
        format!("http://127.0.0.1:{port}/health")
    );
    assert_eq!(service["Check"]["Interval"], "10s");
    assert_eq!(service["Check"]["DeregisterCriticalServiceAfter"], "1m");

    // The agent forgets it (restart): the node registers again.
    let mut again = false;
    for _ in 0..100 {
        if registrations(&consul).await.len() >= 2 {
            again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        again,
        "the node did not register again after the agent lost it"
    );

    // Stopping: deregistered while still accepting.
    app.stop_node(0).await;
    assert!(called.load(Ordering::SeqCst), "no deregistration");
    assert!(
        accepting.load(Ordering::SeqCst),
        "the node stopped accepting before leaving Consul"
    );
}

#[tokio::test]
async fn a_node_retries_while_the_agent_is_down_and_serves_meanwhile() {
    let consul = MockServer::start().await;
    // The agent answers 500 at first, then recovers.
    Mock::given(method("PUT"))
        .and(path("/v1/agent/service/register"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&consul)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1/agent/service/register"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consul)
        .await;
    let app = TestApp::spawn_cluster(1, false, &["--consul-http-addr", &consul.uri()]).await;
    // Serving while unregistered.
    app.register("alice").await;
    let mut attempts = 0;
    for _ in 0..100 {
        attempts = registrations(&consul).await.len();
        if attempts >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(attempts >= 3, "only {attempts} registration attempts");
}

#[tokio::test]
async fn without_an_agent_nothing_is_registered() {
    // No CONSUL_HTTP_ADDR: the node runs and stops without trying.
    let mut app = TestApp::spawn().await;
    app.register("alice").await;
    app.stop_node(0).await;
}
