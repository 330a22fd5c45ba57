//! How a Lattice container spec looks to Docker, and back: names, labels,
//! the create body (limits, ports, volume, grace period) and what an
//! inspection says about ports and addresses. Pure functions, no engine.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, HostConfigLogConfig, Mount,
    MountType, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use lattice_proto::v1;

/// Label keys.
pub mod label {
    /// Workload id.
    pub const WORKLOAD: &str = "lattice.workload";
    /// Node id.
    pub const NODE: &str = "lattice.node";
    /// Owner id.
    pub const OWNER: &str = "lattice.owner";
    /// Workload name.
    pub const NAME: &str = "lattice.name";
    /// Spec hash.
    pub const SPEC: &str = "lattice.spec-hash";
}

/// Most processes (and threads) in one workload's container.
pub const PIDS_LIMIT: i64 = 1024;
/// Size at which a container's log file rotates.
pub const LOG_MAX_SIZE: &str = "50m";
/// Log files kept per container (the newest `LOG_MAX_FILES` × `LOG_MAX_SIZE`).
pub const LOG_MAX_FILES: u32 = 5;

/// Name of a workload's container.
pub fn container_name(workload_id: &str) -> String {
    format!("lattice-{workload_id}")
}

/// Name of a workload's data volume.
pub fn volume_name(workload_id: &str) -> String {
    format!("lattice-{workload_id}-data")
}

/// The body that creates a workload's container: on its owner's network,
/// with ports published on `publish_addr` only.
pub fn create_body(
    spec: &v1::ContainerSpec,
    node_id: &str,
    publish_addr: std::net::IpAddr,
) -> ContainerCreateBody {
    let labels = HashMap::from([
        (label::WORKLOAD.to_string(), spec.workload_id.clone()),
        (label::NODE.to_string(), node_id.to_string()),
        (label::OWNER.to_string(), spec.owner.clone()),
        (label::NAME.to_string(), spec.name.clone()),
        (label::SPEC.to_string(), spec.spec_hash.clone()),
    ]);
    let exposed: Vec<String> = spec.ports.iter().map(|p| format!("{p}/tcp")).collect();
    let bindings = spec
        .ports
        .iter()
        .map(|p| {
            // Docker picks a free host port: no conflicts between workloads.
            (
                format!("{p}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(publish_addr.to_string()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect();
    let mounts = (!spec.volume_path.is_empty()).then(|| {
        vec![Mount {
            target: Some(spec.volume_path.clone()),
            source: Some(volume_name(&spec.workload_id)),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]
    });
    let res = spec.resources.unwrap_or_default();
    let host = HostConfig {
        network_mode: Some(super::network::network_name(&spec.owner)),
        port_bindings: Some(bindings),
        mounts,
        nano_cpus: (res.cpu_millis > 0).then(|| i64::from(res.cpu_millis) * 1_000_000),
        memory: (res.memory_bytes > 0).then(|| i64::try_from(res.memory_bytes).unwrap_or(i64::MAX)),
        // No restarts while starting, so a crash keeps its exit code and
        // fails fast; `keep_running` turns restarts on once ready.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        // Hardening every tenant gets: no privilege gain through setuid
        // binaries, a bound on processes (a fork bomb stays in its
        // container), and logs that rotate instead of filling the node's disk.
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        pids_limit: Some(PIDS_LIMIT),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), LOG_MAX_FILES.to_string()),
            ])),
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // Docker's own stop (and ours, which passes no timeout) waits this
        // long after the image's stop signal before it kills.
        stop_timeout: Some(i64::from(stop_timeout_secs(spec))),
        env: Some(
            spec.env
                .iter()
                .map(|e| format!("{}={}", e.key, e.value))
                .collect(),
        ),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        exposed_ports: Some(exposed),
        labels: Some(labels),
        host_config: Some(host),
        ..Default::default()
    }
}

/// Grace period of a spec, in seconds (0 in the spec means the default).
pub fn stop_timeout_secs(spec: &v1::ContainerSpec) -> u32 {
    match spec.stop_timeout_seconds {
        0 => DEFAULT_STOP_TIMEOUT_SECS,
        s => s.min(lattice_proto::validate::STOP_TIMEOUT_MAX_SECS),
    }
}

/// Docker's own default grace period.
pub const DEFAULT_STOP_TIMEOUT_SECS: u32 = 10;

/// `repo:tag` → (repo, tag); digests and registry ports are kept intact.
pub fn split_tag(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// Host ports Docker assigned, by container port.
pub fn published_ports(c: &ContainerInspectResponse) -> HashMap<u32, u32> {
    let mut out = HashMap::new();
    let Some(ports) = c.network_settings.as_ref().and_then(|n| n.ports.as_ref()) else {
        return out;
    };
    for (k, v) in ports {
        let Some(cp) = k.split('/').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(hp) = v.as_ref().and_then(|b| {
            b.iter()
                .find_map(|b| b.host_port.as_ref()?.parse::<u32>().ok())
        }) {
            out.insert(cp, hp);
        }
    }
    out
}

/// The container's address on its Docker network.
pub fn container_ip(c: &ContainerInspectResponse) -> Option<String> {
    c.network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .and_then(|nets| {
            nets.values()
                .find_map(|e| e.ip_address.clone().filter(|ip| !ip.is_empty()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split() {
        assert_eq!(split_tag("nginx"), ("nginx", "latest"));
        assert_eq!(split_tag("nginx:1.27"), ("nginx", "1.27"));
        assert_eq!(
            split_tag("registry:5000/a/b"),
            ("registry:5000/a/b", "latest")
        );
        assert_eq!(split_tag("registry:5000/a/b:2"), ("registry:5000/a/b", "2"));
    }
}
