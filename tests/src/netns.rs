//! "Another computer" for tests that cross a network.

use std::process::Command;

/// "Another computer": a network namespace joined to this host by a veth
/// pair, whose only route is to the host's end. Removed on drop.
pub struct OtherComputer {
    /// Namespace name.
    pub ns: String,
    /// The host's address, as seen from the namespace.
    pub host_ip: String,
    /// The namespace's own address.
    pub ip: String,
    veth: String,
}

impl OtherComputer {
    /// Creates the namespace (needs root, as CI has).
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU8, Ordering};
        static N: AtomicU8 = AtomicU8::new(1);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 10000);
        let ns = format!("lt{tag}");
        let veth = format!("lth{tag}");
        let peer = format!("ltc{tag}");
        let subnet = format!("10.231.{n}");
        let host_ip = format!("{subnet}.1");
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &ns]);
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &veth]);
        ip(&["link", "set", &veth, "up"]);
        ip(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("{subnet}.2/24"),
            "dev",
            &peer,
        ]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        let ip = format!("{subnet}.2");
        Self {
            ns,
            host_ip,
            ip,
            veth,
        }
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

impl Default for OtherComputer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OtherComputer {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
    }
}
