//! Through the real gateway: Debian's nginx, run with the repository's
//! `nginx/confab.conf` (rendered by `scripts/gateway.sh` with a static
//! upstream of this test's nodes), in front of two nodes and a dispatcher,
//! or of one node the test can cut off.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::{
    Client, bodies, refused, refused_request, ticket_protocol_request, to_user, with_bearer,
};
use crate::helpers::{Outage, TestApp, TestUser};

/// nginx running in front of `app`'s nodes; killed when dropped.
struct Gateway {
    addr: String,
    dir: PathBuf,
    _process: tokio::process::Child,
}

impl Gateway {
    /// nginx in front of `app`'s nodes.
    async fn start(app: &TestApp) -> Self {
        let nodes: Vec<String> = app.nodes.iter().map(|node| node.addr.clone()).collect();
        Self::in_front_of(&nodes).await
    }

    /// nginx with `upstreams` (`host:port` each) as its nodes.
    async fn in_front_of(upstreams: &[String]) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir =
            std::env::temp_dir().join(format!("confab-gateway-{}", uuid::Uuid::new_v4().simple()));
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let mut render = std::process::Command::new("bash");
        render
            .arg(root.join("scripts/gateway.sh"))
            .arg("render")
            .arg(&dir)
            .arg(&addr);
        render.args(upstreams);
        assert!(render.status().expect("run scripts/gateway.sh").success());
        let process = tokio::process::Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(&dir)
            // One process, so that killing it (on drop) leaves no worker behind.
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx (Debian's package) is installed");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("http://{addr}/livez"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            addr,
            dir,
            _process: process,
        }
    }

    /// Connects `user` as a browser does: a ticket asked for through the
    /// gateway, then `/ws` offering it as a subprotocol (which nginx passes
    /// on, and the node's selected `confab.v1` back). Returns the ticket too.
    async fn connect_as_browser(&self, user: &TestUser) -> (Client, String) {
        let ticket: serde_json::Value = reqwest::Client::new()
            .post(format!("http://{}/api/auth/ws-ticket", self.addr))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ticket = ticket["ticket"].as_str().unwrap().to_owned();
        let client = Client::connect_with_ticket_protocol(&self.addr, user, &ticket).await;
        (client, ticket)
    }

    /// Waits until the access log holds `count` lines with `needle`: nginx
    /// writes a request's line just after its answer, so an answer the test
    /// read may not be logged yet.
    async fn wait_until_logged(&self, needle: &str, count: usize) {
        let access = self.dir.join("access.log");
        for _ in 0..200 {
            let logged = std::fs::read_to_string(&access).unwrap_or_default();
            if logged.matches(needle).count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "fewer than {count} `{needle}` in the access log:\n{}",
            self.logs()
        );
    }

    /// The gateway's access and error logs, as they are now.
    fn logs(&self) -> String {
        ["access.log", "error.log"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Which node ids hold `user`'s connections, from presence.
async fn nodes_of(app: &TestApp, user: &TestUser) -> HashSet<u16> {
    app.presence
        .locate(&[user.id])
        .await
        .unwrap()
        .get(&user.id)
        .map(|conns| conns.iter().map(|c| c.node.0).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn clients_on_different_nodes_chat_through_nginx_and_survive_a_drain() {
    let mut app = TestApp::spawn_cluster(2, true, &[]).await;
    let gateway = Gateway::start(&app).await;
    // REST through the gateway too.
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    let via = reqwest::Client::new()
        .get(format!("http://{}/api/me", gateway.addr))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(via.status().as_u16(), 200);

    // least_conn spreads the two connections over the two nodes. Alice is
    // a browser (a ticket in the subprotocols), bob a native client (a header).
    let (mut a, alices_ticket) = gateway.connect_as_browser(&alice).await;
    let mut b = Client::connect_to(&gateway.addr, &bob).await;
    let (on_a, on_b) = (nodes_of(&app, &alice).await, nodes_of(&app, &bob).await);
    assert_eq!(on_a.len(), 1);
    assert_eq!(on_b.len(), 1);
    assert_ne!(on_a, on_b, "both clients landed on the same node");

    let hi = a.send_confirmed("hi", to_user(&bob), "hi bob").await;
    assert_eq!(b.next_message().await["msg_id"], hi.as_str());
    let hello = b.send_confirmed("hello", to_user(&alice), "hi alice").await;
    assert_eq!(a.next_message().await["msg_id"], hello.as_str());

    // Bob's node drains while alice sends; bob reconnects through nginx
    // (to the other node) and gets every confirmed message exactly once
    // after dropping repeats, in order.
    let bob_node = usize::from(*on_b.iter().next().unwrap()) - 1;
    let expected: Vec<String> = (0..200).map(|i| format!("{i:03}")).collect();
    let sending = a.send_burst("burst", to_user(&bob), &expected);
    let draining = async {
        let first = b.next_message().await;
        app.stop_node(bob_node).await;
        first
    };
    let (sent, first) = tokio::join!(sending, draining);
    assert_eq!(b.closed_with().await, 1001);

    let (mut b, bobs_ticket) = gateway.connect_as_browser(&bob).await;
    let mut seen: HashSet<String> = HashSet::from([first["msg_id"].as_str().unwrap().to_owned()]);
    let mut got = vec![first];
    while seen.len() < expected.len() {
        let frame = b.next_message().await;
        if frame["msg_id"] == hi.as_str() {
            continue; // the pre-drain message, not acked before the drain
        }
        if seen.insert(frame["msg_id"].as_str().unwrap().to_owned()) {
            got.push(frame);
        }
    }
    assert_eq!(bodies(&got), expected);
    let confirmed: HashSet<String> = sent.into_iter().collect();
    assert_eq!(seen, confirmed);

    // After the failover, no log of the gateway holds a token or a ticket
    // (the WebSockets it logged are there: the check is not vacuous).
    drop((a, b));
    let logs = gateway.logs();
    assert!(logs.contains("GET /ws"), "{logs}");
    for user in [&alice, &bob] {
        assert!(
            !logs.contains(&user.token),
            "a token in the gateway's logs:\n{logs}"
        );
    }
    for ticket in [&alices_ticket, &bobs_ticket] {
        assert!(
            !logs.contains(ticket.as_str()),
            "a ticket in the gateway's logs:\n{logs}"
        );
    }
    assert!(!logs.contains("token="), "{logs}");
}

/// Everything logged on this test's thread, at every level, while it lives:
/// the nodes' logs, since a `#[tokio::test]` runtime has one thread and the
/// nodes run on it.
struct LogCapture {
    text: Arc<Mutex<Vec<u8>>>,
    _default: tracing::subscriber::DefaultGuard,
}

/// One write into a [`LogCapture`].
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    fn start() -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = text.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(sink.clone()))
            .finish();
        Self {
            text,
            _default: tracing::subscriber::set_default(subscriber),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }
}

/// A ticket for `user`, asked of `base` (`http://host:port`).
async fn ticket_from(base: &str, user: &TestUser) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/ws-ticket"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["ticket"].as_str().unwrap().to_owned()
}

/// The status and error code of a refused upgrade.
fn code((status, body): (u16, serde_json::Value)) -> (u16, String) {
    let code = body["error"]["code"].as_str().unwrap_or_default();
    (status, code.to_owned())
}

#[tokio::test]
async fn failed_upgrades_through_nginx_leave_no_token_or_ticket_in_any_log() {
    let node_logs = LogCapture::start();
    let app = TestApp::spawn().await;
    // nginx reaches the node through a forwarder the test cuts: to nginx,
    // the node then resets every connection, as a crashing one does.
    let node = Outage::forward_to(&app.nodes[0].addr).await;
    let gateway = Gateway::in_front_of(std::slice::from_ref(&node.addr)).await;
    let alice = app.register("alice").await;
    let ws = format!("ws://{}/ws", gateway.addr);
    let (in_url, unavailable) = (
        (400, "credential_in_url".to_owned()),
        (503, "unavailable".to_owned()),
    );

    // Clients written from docs/protocol.md: a browser (a ticket asked of
    // the gateway, offered as a subprotocol) and a native client (the
    // header) connect; a ticket used twice is refused by the node; a token
    // or ticket in the URL is refused by the gateway.
    let (browser, used) = gateway.connect_as_browser(&alice).await;
    drop(browser);
    let reused = refused_request(ticket_protocol_request(&ws, &used)).await;
    assert_eq!(code(reused), (401, "invalid_ticket".to_owned()));
    drop(Client::connect_to(&gateway.addr, &alice).await);
    let mut tickets = vec![used];
    let fresh = ticket_from(&format!("http://{}", gateway.addr), &alice).await;
    for query in [format!("token={}", alice.token), format!("ticket={fresh}")] {
        let url = format!("{ws}?device=laptop&{query}");
        assert_eq!(code(refused(&url, None).await), in_url);
    }
    tickets.push(fresh);

    // The node gone: every upgrade fails upstream, and nginx's error log
    // prints each one's request line, query string included.
    node.down();
    let laptop = format!("{ws}?device=laptop");
    for _ in 0..2 {
        let ticket = ticket_from(&app.nodes[0].base, &alice).await;
        let browser = refused_request(ticket_protocol_request(&laptop, &ticket)).await;
        assert_eq!(code(browser), unavailable);
        tickets.push(ticket);
    }
    let native = refused_request(with_bearer(&format!("{ws}?device=desk"), &alice.token)).await;
    assert_eq!(code(native), unavailable);
    // Refused by nginx itself: a request it passed on would fail as 503.
    let jwt = format!("{laptop}&token={}", alice.token);
    assert_eq!(code(refused(&jwt, None).await), in_url);
    let ticket = ticket_from(&app.nodes[0].base, &alice).await;
    let ticket_url = format!("{laptop}&TICKET={ticket}");
    let with_protocol = ticket_protocol_request(&ticket_url, &ticket);
    assert_eq!(code(refused_request(with_protocol).await), in_url);
    tickets.push(ticket);

    // Ten upgrades were tried; the log records them all, and the failed
    // ones' request lines (not vacuous: the query would be there).
    gateway.wait_until_logged("\"GET /ws ", 10).await;
    let logs = gateway.logs();
    assert!(logs.contains("\"GET /ws HTTP/1.1\" 400 "), "{logs}");
    assert!(
        logs.contains("request: \"GET /ws?device=laptop HTTP/1.1\""),
        "{logs}"
    );
    let node_log = node_logs.text();
    assert!(node_log.contains("path=/ws"), "the node logged no upgrade");
    let secrets = tickets.iter().chain([&alice.token]).map(String::as_str);
    for secret in secrets.chain(["eyJ", "token=", "ticket="]) {
        assert!(
            !logs.contains(secret),
            "{secret} in the gateway's logs:\n{logs}"
        );
        assert!(!node_log.contains(secret), "{secret} in the node's log");
    }
}
