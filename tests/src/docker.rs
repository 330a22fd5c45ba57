//! The local Docker Engine and HTTP, as tests observe them.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

/// Runs `docker ARGS` and returns stdout (trimmed); panics if docker is missing.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Fails with instructions when the local images are missing.
pub fn require_images() {
    for i in [
        "lattice-local/postgres:latest",
        "lattice-local/s3:latest",
        "lattice-local/web:latest",
    ] {
        assert!(
            !docker(&["image", "inspect", "--format", "{{.Id}}", i]).is_empty(),
            "{i} is missing: run `make images` (make test does) — no registry is reachable here"
        );
    }
}

/// An HTTP GET to `url` (`http://host:port/path`), returning the status code.
pub fn http_status(url: &str) -> Option<u16> {
    use std::io::Read;
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}
