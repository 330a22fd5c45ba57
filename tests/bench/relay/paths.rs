//! The paths a relayed byte can take in the bench, each with the processes
//! that relay it (whose CPU is the path's cost): the container's own
//! address, the plain floor (two `floor-relay` processes), and rathole
//! (server and client over TLS). Lattice's path is the cluster's edge.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lattice_e2e::docker;

/// Where one path's sink and echo server answer, and who relays for it.
pub struct Path {
    pub name: &'static str,
    pub sink: String,
    pub echo: String,
    pub pids: Vec<u32>,
}

/// Relaying processes this bench started: killed when dropped.
#[derive(Default)]
pub struct Children {
    procs: Vec<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The container side (relay/peer.c, static, on the local base image),
/// built once per version of its source: returns the image tag.
pub fn peer_image() -> String {
    let src = include_str!("peer.c");
    let hash = src.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let tag = format!("lattice-local/relay-peer:{hash:016x}");
    let have = Command::new("docker")
        .args(["image", "inspect", &tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return tag;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("peer.c"), src).expect("write peer.c");
    let cc = Command::new("gcc")
        .args(["-O2", "-static", "-o", "peer", "peer.c"])
        .current_dir(dir.path())
        .status()
        .expect("gcc (scripts/bench-peers.sh installs it)");
    assert!(cc.success(), "gcc could not build relay/peer.c");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM lattice-local/base:bookworm\nCOPY peer /usr/local/bin/relay-peer\n\
         ENTRYPOINT [\"tini\", \"--\"]\nCMD [\"/usr/local/bin/relay-peer\"]\n",
    )
    .expect("write Dockerfile");
    let path = dir.path().to_string_lossy().to_string();
    docker(&["build", "-q", "-t", &tag, &path]);
    tag
}

/// Reads one line from a child's stdout.
fn first_line(c: &mut Child) -> String {
    let out = c.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("the relay prints its ports");
    line.trim().to_string()
}

fn floor_relay(upstreams: &[&str]) -> Child {
    let exe = std::env::current_exe().expect("this binary's path");
    Command::new(exe)
        .arg("floor-relay")
        .args(upstreams)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start floor-relay")
}

/// Two plain relays in a chain in front of `direct`.
pub fn floor(direct: &Path) -> (Path, Children) {
    let mut near_container = floor_relay(&[&direct.sink, &direct.echo]);
    let ports = first_line(&mut near_container);
    let ups: Vec<String> = ports.split(' ').map(|p| format!("127.0.0.1:{p}")).collect();
    let mut near_client = floor_relay(&[&ups[0], &ups[1]]);
    let ports = first_line(&mut near_client);
    let mut p = ports.split(' ');
    let path = Path {
        name: "plain relay floor",
        sink: format!("127.0.0.1:{}", p.next().expect("sink port")),
        echo: format!("127.0.0.1:{}", p.next().expect("echo port")),
        pids: vec![near_client.id(), near_container.id()],
    };
    (
        path,
        Children {
            procs: vec![near_client, near_container],
            _dir: None,
        },
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// rathole 0.5 (TLS transport, native-tls) in front of `direct`, or why not.
pub fn rathole(direct: &Path) -> Result<(Path, Children), String> {
    let bin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-peers/bin/rathole");
    if !bin.exists() {
        return Err(format!(
            "{} is missing: run scripts/bench-peers.sh",
            bin.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path();
    let sh = |cmd: &str| {
        let ok = Command::new("sh")
            .args(["-c", cmd])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            Err(format!("`{cmd}` failed"))
        }
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost",
    )?;
    sh("openssl pkcs12 -export -out identity.pfx -inkey key.pem -in cert.pem -passout pass:bench")?;
    let (control, sink, echo) = (free_port(), free_port(), free_port());
    let server = format!(
        "[server]\nbind_addr = \"127.0.0.1:{control}\"\n\
         [server.transport]\ntype = \"tls\"\n\
         [server.transport.tls]\npkcs12 = \"identity.pfx\"\npkcs12_password = \"bench\"\n\
         [server.services.sink]\ntoken = \"bench\"\nbind_addr = \"127.0.0.1:{sink}\"\n\
         [server.services.echo]\ntoken = \"bench\"\nbind_addr = \"127.0.0.1:{echo}\"\n"
    );
    let client = format!(
        "[client]\nremote_addr = \"127.0.0.1:{control}\"\n\
         [client.transport]\ntype = \"tls\"\n\
         [client.transport.tls]\ntrusted_root = \"cert.pem\"\nhostname = \"localhost\"\n\
         [client.services.sink]\ntoken = \"bench\"\nlocal_addr = \"{}\"\n\
         [client.services.echo]\ntoken = \"bench\"\nlocal_addr = \"{}\"\n",
        direct.sink, direct.echo
    );
    std::fs::write(d.join("server.toml"), server).map_err(|e| e.to_string())?;
    std::fs::write(d.join("client.toml"), client).map_err(|e| e.to_string())?;
    let start = |role: &str, file: &str| {
        Command::new(&bin)
            .args([role, file])
            .current_dir(d)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start rathole {role}: {e}"))
    };
    let s = start("--server", "server.toml")?;
    let c = start("--client", "client.toml")?;
    let path = Path {
        name: "rathole 0.5 (TLS)",
        sink: format!("127.0.0.1:{sink}"),
        echo: format!("127.0.0.1:{echo}"),
        pids: vec![s.id(), c.id()],
    };
    let children = Children {
        procs: vec![s, c],
        _dir: Some(dir),
    };
    // Ready when a byte makes the round trip through it.
    let t = Instant::now();
    while !echoes(&path.echo) {
        if t.elapsed() > Duration::from_secs(20) {
            return Err("rathole did not relay within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((path, children))
}

fn echoes(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut b = [0u8; 1];
    s.write_all(b"x").is_ok() && s.read_exact(&mut b).is_ok()
}

/// The summed user + system CPU of `pids`, seconds.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let ticks: u64 = pids
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            // Fields after the command's closing parenthesis: utime and stime are 12th and 13th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
