//! Relay data connections (ALPN `lattice-tunnel/1` on controld's port):
//! only the node a relay was asked of, with its credentials, can answer it.
//! A forged secret, or a real node naming a stream no one asked it for,
//! gets its connection closed at once; the edge keeps relaying; no secret
//! reaches controld's log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lattice_agentd::identity::{Identity, Shared};
use lattice_agentd::tunnel::TunnelDialer;
use lattice_e2e::Cluster;
use tokio::io::AsyncReadExt;

#[test]
fn relay_data_connections_need_the_asked_nodes_credentials() {
    let c = Cluster::processes();
    c.admin.deploy_web("site");
    let id = Identity::load(&c.agent.data_dir)
        .expect("node.json")
        .expect("the agent joined");
    let mut forged = id.clone();
    forged.node_secret = "lns_forged-secret-0123456789".into();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for (who, ident) in [
            ("a forged secret", forged),
            ("an unasked stream", id.clone()),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let dialer = TunnelDialer::new(&Shared::new(ident, dir.path()));
            let mut t = dialer
                .dial("0190f3c2-made-up-stream", None)
                .await
                .expect("TLS and the hello go through");
            let mut b = [0u8; 16];
            let n = tokio::time::timeout(Duration::from_secs(5), t.read(&mut b))
                .await
                .unwrap_or_else(|_| panic!("{who}: the connection was left open"))
                .unwrap_or(0);
            assert_eq!(n, 0, "{who}: controld sent nothing and closed");
        }
    });

    // The edge still relays, through the agent's own data connection.
    let endpoint = c
        .admin
        .run(&["access", "site", "--format", "endpoint"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    let port = endpoint.rsplit(':').next().expect("port");
    let mut s =
        TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port"))).expect("edge port");
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut page = String::new();
    s.read_to_string(&mut page).expect("read");
    assert!(page.contains("lattice-local/web"), "{page}");

    let log = c.controld.logs();
    assert!(
        !log.contains(&id.node_secret),
        "the node secret is in controld's log"
    );
    assert!(
        !log.contains("forged-secret"),
        "a presented secret is in controld's log"
    );
}
