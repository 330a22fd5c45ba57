//! An edge port that another program holds: the workload says so (event and
//! endpoint), controld keeps retrying, and the port serves once it is free.

use std::time::Duration;

use lattice_e2e::{Cluster, http_status, wait_for};

#[test]
fn an_edge_port_held_by_another_program_is_reported_and_retried() {
    let range = lattice_e2e::edge_range(1);
    let port: u16 = range
        .split('-')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    // Another program already listens on the only edge port.
    let squatter =
        std::net::TcpListener::bind(("0.0.0.0", port)).expect("bind the edge port first");
    let c = Cluster::start_full(&[], &["--edge-ports", &range]);
    let cli = &c.admin;
    cli.deploy_web("web");
    let st = wait_for(Duration::from_secs(20), || {
        let v = cli.run(&["status", "web", "-o", "json"], None).ok().json();
        let public = v["endpoints"]
            .as_array()?
            .iter()
            .find(|e| e["via"] == "public")?
            .clone();
        public["problem"].as_str().is_some().then_some(v)
    })
    .expect("the public endpoint names its problem");
    let public = &st["endpoints"][0];
    assert_eq!(public["port"], port);
    let problem = public["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("could not be bound"), "{st}");
    assert!(
        st["events"].as_array().unwrap().iter().any(|e| e["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("public port {port} could not be bound"))),
        "an event says so: {st}"
    );
    let human = cli.run(&["status", "web"], None).ok().stdout;
    assert!(human.contains("not listening"), "{human}");

    // The other program goes away: controld binds the port by itself.
    drop(squatter);
    let url = format!("http://127.0.0.1:{port}/");
    wait_for(Duration::from_secs(20), || {
        (http_status(&url) == Some(200)).then_some(())
    })
    .expect("the edge port serves once it is free");
    let v = cli.run(&["status", "web", "-o", "json"], None).ok().json();
    assert!(v["endpoints"][0]["problem"].is_null(), "{v}");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"] == format!("public port {port} is listening")),
        "{v}"
    );
}
