//! Through the real gateway: Debian's nginx, run with the repository's
//! `nginx/confab.conf` (rendered by `scripts/gateway.sh` with a static
//! upstream of this test's nodes), in front of two nodes and a dispatcher.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::client::{Client, bodies, to_user};
use crate::helpers::{TestApp, TestUser};

/// nginx running in front of `app`'s nodes; killed when dropped.
struct Gateway {
    addr: String,
    dir: PathBuf,
    _process: tokio::process::Child,
}

impl Gateway {
    async fn start(app: &TestApp) -> Self {
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
        for node in &app.nodes {
            render.arg(&node.addr);
        }
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
