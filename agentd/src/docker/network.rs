//! Tenancy on the node: each owner's containers sit on a Docker bridge
//! network of their own, and (where the node can) a firewall keeps every
//! workload away from the node's own addresses and the link-local metadata
//! range. Docker already drops traffic between two bridge networks
//! (its DOCKER-ISOLATION chains), so owners cannot reach each other by IP;
//! the agent reaches containers from the host side, which needs neither
//! a published port nor a rule of ours.

use std::collections::HashMap;
use std::process::Stdio;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use ipnet::{IpNet, Ipv4Net};
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tracing::{info, warn};

use std::sync::atomic::Ordering;

use bollard::errors::Error as DockerError;

use super::{DResult, is_not_found, label, msg};

/// Prefix of every Lattice bridge interface; one firewall rule matches all
/// of them (`lt-+` in iptables' syntax).
pub const BRIDGE_PREFIX: &str = "lt-";

/// Where the node's own firewall rules go for traffic a workload sends to the
/// node itself (INPUT) and through it (DOCKER-USER, which Docker evaluates
/// before its own forwarding rules).
const RULES: [(&str, &[&str]); 2] = [
    (
        "INPUT",
        &[
            "-i",
            "lt-+",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-j",
            "REJECT",
        ],
    ),
    (
        "DOCKER-USER",
        &["-i", "lt-+", "-d", "169.254.0.0/16", "-j", "REJECT"],
    ),
];

/// Short, stable digest of an owner id (fits a 15-byte interface name).
fn owner_tag(owner: &str) -> String {
    let d = Sha256::digest(owner.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The Docker network of an owner's workloads on this node.
pub fn network_name(owner: &str) -> String {
    format!("lattice-owner-{}", owner_tag(owner))
}

/// The Linux bridge interface of that network (at most 15 bytes).
pub fn bridge_name(owner: &str) -> String {
    format!("{BRIDGE_PREFIX}{}", owner_tag(owner))
}

/// Prefix length of each owner's subnet: 254 containers per owner and node.
pub const OWNER_PREFIX: u8 = 24;

/// Default pool owners' subnets are carved from (`--network-pool`): 256
/// owners per node, where Docker's own default pools hold about 30 networks.
pub const DEFAULT_POOL: &str = "10.213.0.0/16";

/// The pool's subnets that overlap none of `used`, in order.
pub fn free_subnets(pool: Ipv4Net, used: &[IpNet]) -> Vec<Ipv4Net> {
    let Ok(subnets) = pool.subnets(OWNER_PREFIX.max(pool.prefix_len())) else {
        return Vec::new();
    };
    subnets
        .filter(|s| {
            let s = IpNet::V4(*s);
            !used.iter().any(|u| u.contains(&s) || s.contains(u))
        })
        .collect()
}

/// Whether Docker refused a subnet because another network holds it.
pub fn is_overlap(message: &str) -> bool {
    message.contains("overlap")
}

/// The body that creates an owner's network on `subnet`.
pub fn create_request(owner: &str, node_id: &str, subnet: Ipv4Net) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: network_name(owner),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        labels: Some(HashMap::from([
            (label::OWNER.to_string(), owner.to_string()),
            (label::NODE.to_string(), node_id.to_string()),
        ])),
        options: Some(HashMap::from([(
            "com.docker.network.bridge.name".to_string(),
            bridge_name(owner),
        )])),
        ..Default::default()
    }
}

/// Makes sure the node's firewall keeps workloads off the node's own
/// addresses and the metadata range. Idempotent (`-C` before `-I`). Returns
/// what could not be done, for the agent's log: a node without iptables or
/// without the rights still runs workloads, only without this protection.
pub async fn ensure_host_firewall() -> Result<(), String> {
    for (chain, rule) in RULES {
        let check = iptables(&[&["-C", chain], rule].concat()).await?;
        if check {
            continue;
        }
        if !iptables(&[&["-I", chain, "1"], rule].concat()).await? {
            return Err(format!(
                "iptables could not add the {chain} rule that keeps workloads off this node's addresses"
            ));
        }
        info!(
            chain,
            "firewall rule added: workloads cannot reach this node"
        );
    }
    Ok(())
}

/// Runs iptables; Ok(whether it succeeded), Err when it cannot run at all.
async fn iptables(args: &[&str]) -> Result<bool, String> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            format!("cannot run iptables ({e}); workloads can reach this node's own addresses")
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // `-C` fails for a missing rule (exit 1) and a missing chain alike.
        if err.contains("No chain") || err.contains("does not exist") {
            warn!(args = ?args, "iptables: {}", err.trim());
        }
    }
    Ok(out.status.success())
}

impl super::Docker {
    /// Creates the owner's network if it is missing (idempotent), and the
    /// node's firewall rules once.
    pub(super) async fn ensure_network(&self, owner: &str, node_id: &str) -> DResult<()> {
        if self.isolation.host_firewall && !self.firewall_done.load(Ordering::Relaxed) {
            match ensure_host_firewall().await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "workloads are not kept off this node's addresses")
                }
            }
            // Tried once per connection to the engine: a node that cannot is
            // told so once, not on every deploy.
            self.firewall_done.store(true, Ordering::Relaxed);
        }
        let name = network_name(owner);
        match self.inner.inspect_network(&name, None).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(msg(&e)),
        }
        // Another agent on the same engine may take a subnet between our
        // look and our create: Docker refuses the overlap, try the next.
        for subnet in free_subnets(self.isolation.pool, &self.used_subnets().await?)
            .into_iter()
            .take(8)
        {
            match self
                .inner
                .create_network(create_request(owner, node_id, subnet))
                .await
            {
                Ok(_) => return Ok(()),
                Err(DockerError::DockerResponseServerError {
                    status_code: 409, ..
                }) => return Ok(()),
                Err(DockerError::DockerResponseServerError { message, .. })
                    if is_overlap(&message) => {}
                Err(e) => {
                    // Another agent on this engine made the owner's network
                    // between our look and our create (Docker then refuses
                    // ours, e.g. for its bridge name): use what it made. The
                    // winner's network may be visible by name a moment after
                    // it holds the bridge name, so look for up to 2 s.
                    for _ in 0..20 {
                        if self.inner.inspect_network(&name, None).await.is_ok() {
                            return Ok(());
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    return Err(format!("could not create the network {name}: {}", msg(&e)));
                }
            }
        }
        Err(format!(
            "no free /{} subnet is left in this node's network pool {} for a new owner; \
             widen agentd's --network-pool",
            OWNER_PREFIX, self.isolation.pool
        ))
    }

    /// Subnets of every network on the engine.
    async fn used_subnets(&self) -> DResult<Vec<ipnet::IpNet>> {
        let nets = self
            .inner
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| msg(&e))?;
        Ok(nets
            .into_iter()
            .filter_map(|n| n.ipam?.config)
            .flatten()
            .filter_map(|c| c.subnet?.parse().ok())
            .collect())
    }

    /// Removes the owner's network when no container of the owner is left,
    /// in any state. Docker itself refuses only while a *running* container
    /// is attached: a created one, not started yet, would lose its network
    /// and fail to start ("network … not found"). Creates hold the same
    /// lock from `ensure_network` to the container's creation.
    pub(super) async fn prune_network(&self, owner: &str) {
        let _g = self.networks.lock().await;
        let name = network_name(owner);
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("{}={owner}", super::label::OWNER)],
        )]);
        let opts = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        match self.inner.list_containers(Some(opts)).await {
            Ok(left) if left.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(network = %name, error = %msg(&e), "owner network kept");
                return;
            }
        }
        match self.inner.remove_network(&name).await {
            Ok(()) => tracing::debug!(network = %name, "owner network removed"),
            Err(e) if is_not_found(&e) => {}
            Err(DockerError::DockerResponseServerError {
                status_code: 403 | 409,
                ..
            }) => {}
            Err(e) => tracing::debug!(network = %name, error = %msg(&e), "owner network kept"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_skip_what_is_taken() {
        let pool: Ipv4Net = "10.213.0.0/22".parse().unwrap();
        let used: Vec<IpNet> = vec![
            "10.213.0.0/24".parse().unwrap(),
            "10.213.2.128/25".parse().unwrap(),
            "192.168.0.0/16".parse().unwrap(),
        ];
        let free: Vec<String> = free_subnets(pool, &used)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(free, ["10.213.1.0/24", "10.213.3.0/24"]);
        let all: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(free_subnets(pool, &all).is_empty());
        assert!(is_overlap(
            "Pool overlaps with other one on this address space"
        ));
    }

    #[test]
    fn names_are_stable_short_and_distinct() {
        let a = "0192f1a2-0000-7000-8000-000000000001";
        let b = "0192f1a2-0000-7000-8000-000000000002";
        assert_eq!(network_name(a), network_name(a));
        assert_ne!(network_name(a), network_name(b));
        assert!(bridge_name(a).len() <= 15, "{}", bridge_name(a));
        assert!(bridge_name(a).starts_with(BRIDGE_PREFIX));
        let r = create_request(a, "n1", "10.0.0.0/24".parse().unwrap());
        assert_eq!(r.name, network_name(a));
        assert_eq!(
            r.options.unwrap()["com.docker.network.bridge.name"],
            bridge_name(a)
        );
    }
}
