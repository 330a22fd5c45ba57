//! Tenants on one node: each owner's containers are on a network of their
//! own, nothing is published beyond the node's loopback, and workloads
//! cannot reach the node itself.

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;

use lattice_e2e::{Cli, Cluster, docker};

/// (container name, IP on its network, that network's gateway) of a workload.
fn container(cli: &Cli, name: &str) -> (String, String, String) {
    let id = cli.run(&["status", name, "-o", "json"], None).ok().json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    let cname = format!("lattice-{id}");
    let ip = docker(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &cname,
    ]);
    let gw = docker(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
        &cname,
    ]);
    assert!(!ip.is_empty() && !gw.is_empty(), "{cname}: {ip} {gw}");
    (cname, ip, gw)
}

/// The (one) network a container is on.
fn network_of(container: &str) -> String {
    docker(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
        container,
    ])
}

/// Whether `from` can open a TCP connection to `to:port` within 3 s.
fn reaches(from: &str, to: &str, port: u16) -> bool {
    Command::new("docker")
        .args(["exec", from, "sh", "-c"])
        .arg(format!("printf x | busybox nc -w 3 {to} {port}"))
        .output()
        .expect("docker exec")
        .status
        .success()
}

#[test]
fn tenants_cannot_reach_each_other_or_the_node() {
    let c = Cluster::start();
    let alice = &c.admin;
    let bob = c.user("bob@example.com");
    alice.deploy_web("site");
    alice.deploy_web("worker");
    bob.deploy_web("probe");
    let (site, site_ip, site_gw) = container(alice, "site");
    let (worker, _, worker_gw) = container(alice, "worker");
    let (probe, _, probe_gw) = container(&bob, "probe");

    // One network per owner: Alice's two containers share one, Bob's is another.
    let net = network_of;
    assert_eq!(net(&site), net(&worker));
    assert_ne!(net(&site), net(&probe));
    assert!(net(&site).starts_with("lattice-owner-"), "{}", net(&site));
    assert_eq!(site_gw, worker_gw);
    assert_ne!(site_gw, probe_gw);

    // Alice's own containers reach each other; Bob's cannot reach hers.
    assert!(reaches(&worker, &site_ip, 80), "same owner, same network");
    assert!(!reaches(&probe, &site_ip, 80), "another owner's container");

    // The node itself: a server listening on every address of the host is
    // out of reach from a workload, at its network's gateway or the
    // published port's address alike.
    let host = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = host.local_addr().expect("addr").port();
    let serve = std::thread::spawn(move || {
        // Answer whatever reaches us, so a pass would be visible as success.
        for s in host.incoming().take(4).flatten() {
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nhost\n");
        }
    });
    assert!(!reaches(&probe, &probe_gw, port), "the node at the gateway");
    assert!(
        !reaches(&probe, &site_gw, port),
        "the node at another bridge"
    );
    let rules = Command::new("iptables")
        .args(["-w", "-S"])
        .output()
        .expect("iptables");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("-A DOCKER-USER -d 169.254.0.0/16 -i lt-+ -j REJECT")
            || rules.contains("-A DOCKER-USER -i lt-+ -d 169.254.0.0/16 -j REJECT"),
        "the metadata range is closed to workloads:\n{rules}"
    );

    // Direct ports are published on the node's loopback only.
    let bindings = docker(&[
        "inspect",
        "--format",
        "{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}} {{end}}{{end}}",
        &site,
    ]);
    assert_eq!(bindings.trim(), "127.0.0.1", "{bindings}");
    let direct = alice
        .run(
            &["access", "site", "--format", "endpoint", "--direct"],
            None,
        )
        .ok()
        .stdout;
    assert!(direct.trim().contains("//127.0.0.1:"), "{direct}");
    drop(serve);

    // Removing an owner's last workload removes their network.
    let bob_net = net(&probe);
    bob.run(&["rm", "probe", "--wait"], None).ok();
    assert!(
        docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name=^{bob_net}$")
        ])
        .is_empty(),
        "{bob_net} was removed with its last workload"
    );
}

#[test]
fn an_owner_network_removed_behind_the_agents_back_is_made_again() {
    let c = Cluster::start();
    let alice = &c.admin;
    alice.deploy_web("first");
    let (first, _, _) = container(alice, "first");
    let net = network_of(&first);
    // The agent knows the network exists; take it away by hand (a stopped
    // container keeps no endpoint on it, so Docker lets it go).
    alice.run(&["stop", "first", "--wait"], None).ok();
    docker(&["network", "rm", &net]);
    assert!(
        docker(&["network", "ls", "-q", "--filter", &format!("name=^{net}$")]).is_empty(),
        "{net} was removed by hand"
    );
    // The next create finds it missing, makes it again and succeeds.
    alice.deploy_web("second");
    let (second, _, _) = container(alice, "second");
    assert_eq!(network_of(&second), net, "the owner's network, made again");
}
