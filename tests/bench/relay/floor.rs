//! The plain relay floor: what copying bytes over the same three TCP hops
//! costs with no encryption. `lattice-bench floor-relay UPSTREAM…` listens
//! on one loopback port per upstream, prints them on one line, and relays
//! each connection with tokio's `copy_bidirectional` (64 KiB buffers, as
//! Lattice's relay). Two of these in a chain stand where controld and
//! agentd stand on the Lattice path.

use std::io::Write;

use tokio::net::{TcpListener, TcpStream};

const BUF: usize = 64 * 1024;

/// Runs the relay until killed; exits 2 on bad arguments.
pub fn main(upstreams: &[String]) -> ! {
    if upstreams.is_empty() {
        eprintln!("usage: lattice-bench floor-relay UPSTREAM…");
        std::process::exit(2);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("floor-relay: {e}");
            std::process::exit(1);
        }
    };
    let result: std::io::Result<()> = rt.block_on(async {
        let mut ports = Vec::new();
        for up in upstreams {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            ports.push(l.local_addr()?.port().to_string());
            tokio::spawn(accept(l, up.clone()));
        }
        let mut out = std::io::stdout();
        writeln!(out, "{}", ports.join(" "))?;
        out.flush()?;
        std::future::pending::<()>().await;
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("floor-relay: {e}");
    }
    std::process::exit(1)
}

async fn accept(l: TcpListener, upstream: String) {
    while let Ok((mut down, _)) = l.accept().await {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(mut up) = TcpStream::connect(&upstream).await else {
                return;
            };
            down.set_nodelay(true).ok();
            up.set_nodelay(true).ok();
            let _ = tokio::io::copy_bidirectional_with_sizes(&mut down, &mut up, BUF, BUF).await;
        });
    }
}
