//! Readiness probes: does a workload answer as its spec says it should?

use std::time::Duration;

use lattice_proto::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::docker::{Docker, container_ip};

mod pg;

/// Whether a running container is up (`c.state.running`).
pub fn is_running(c: &bollard::models::ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// Whether the workload answers as its spec says it should.
pub async fn check_ready(
    docker: &Docker,
    spec: &v1::ContainerSpec,
    c: &bollard::models::ContainerInspectResponse,
) -> bool {
    if !is_running(c) {
        return false;
    }
    let target = || Some((container_ip(c)?, *spec.ports.first()?));
    match spec.readiness.as_str() {
        "exec" => {
            // By id: the container inspected, whatever name it has here.
            let Some(id) = c.id.as_deref() else {
                return false;
            };
            matches!(docker.exec(id, &spec.readiness_args).await, Ok((0, _)))
        }
        // Postgres: a real login with the workload's credentials and a
        // query, from the agent (see `pg`).
        "postgres" => {
            let env = |k: &str| {
                spec.env
                    .iter()
                    .find(|e| e.key == k)
                    .map_or("postgres", |e| e.value.as_str())
            };
            let Some((ip, port)) = target() else {
                return false;
            };
            pg::ready(&pg::Login {
                ip: &ip,
                port,
                user: env("POSTGRES_USER"),
                password: env("POSTGRES_PASSWORD"),
                database: env("POSTGRES_DB"),
            })
            .await
        }
        "tcp" => match target() {
            Some((ip, port)) => tcp_ready(&ip, port).await,
            None => false,
        },
        "http" => match target() {
            Some((ip, port)) => {
                http_ready(
                    &ip,
                    port,
                    spec.readiness_args.first().map_or("/", String::as_str),
                )
                .await
            }
            None => false,
        },
        _ => true,
    }
}

async fn tcp_ready(ip: &str, port: u32) -> bool {
    let Ok(port) = u16::try_from(port) else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((ip, port))).await,
        Ok(Ok(_))
    )
}

/// Any HTTP answer below 500 means the server is up (an S3 server answers
/// an anonymous request with 403).
async fn http_ready(ip: &str, port: u32, path: &str) -> bool {
    let Ok(port) = u16::try_from(port) else {
        return false;
    };
    let probe = async {
        let mut s = TcpStream::connect((ip, port)).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        let head = std::str::from_utf8(&buf[..n]).ok()?;
        let code: u16 = head
            .strip_prefix("HTTP/")?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(code < 500)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}
