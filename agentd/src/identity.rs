//! The node's identity: obtained once by exchanging a join token, then kept
//! in `<data-dir>/node.json` (mode 0600) so the agent rejoins after a
//! restart without a new token. The join token carries controld's CA
//! fingerprint, so the agent verifies controld before sending the token.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use lattice_proto::{pki, v1};
use serde::{Deserialize, Serialize};
use tonic::codegen::http::Uri;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// What the agent knows about itself.
#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    /// Node id.
    pub node_id: String,
    /// Node name.
    pub node_name: String,
    /// Secret presented as `authorization: Node <id>.<secret>`.
    pub node_secret: String,
    /// controld's CA, the only trust anchor.
    pub ca_pem: String,
    /// controld's URL.
    pub control: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .field("node_name", &self.node_name)
            .finish()
    }
}

impl Identity {
    /// Loads `<dir>/node.json` if present.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let p = dir.join("node.json");
        match fs::read_to_string(&p) {
            Ok(s) => Ok(Some(
                serde_json::from_str(&s).with_context(|| format!("{} is corrupt", p.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("could not read {}", p.display())),
        }
    }

    /// Saves atomically with mode 0600.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))?;
        tmp.write_all(&serde_json::to_vec_pretty(self)?)?;
        tmp.as_file().sync_all()?;
        tmp.persist(dir.join("node.json"))?;
        Ok(())
    }

    /// The value of the `authorization` header.
    pub fn authorization(&self) -> String {
        format!("Node {}.{}", self.node_id, self.node_secret)
    }

    /// Exchanges a join token for an identity.
    pub async fn join(control: &str, token: &str, hostname: &str) -> anyhow::Result<Self> {
        let Some((_, expected)) = pki::parse_join_token(token) else {
            bail!(
                "--join-token is not a Lattice join token (expected LJT.…); create one with `lattice nodes join-token`"
            );
        };
        let (host, port) = host_port(control)?;
        let presented = pki::fetch_presented(&host, port, Duration::from_secs(10))
            .await
            .with_context(|| format!("could not reach controld at {control}"))?;
        if presented.fingerprint != expected {
            bail!(
                "controld at {control} presents certificate {} but the join token expects {expected}; refusing to join \
                 (wrong server, or the connection is being intercepted)",
                presented.fingerprint
            );
        }
        let channel = channel(control, &presented.pem).await?;
        let r = client(channel)
            .join(v1::JoinRequest {
                join_token: token.trim().to_string(),
                hostname: hostname.to_string(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("controld refused to join: {}", s.message()))?
            .into_inner();
        Ok(Self {
            node_id: r.node_id,
            node_name: r.node_name,
            node_secret: r.node_secret,
            ca_pem: presented.pem,
            control: control.to_string(),
        })
    }
}

/// The identity as the running agent uses it: one copy shared by the
/// control stream and every dialer, replaced when controld rotates the
/// node's secret.
#[derive(Clone)]
pub struct Shared {
    current: Arc<RwLock<Identity>>,
    dir: PathBuf,
}

impl Shared {
    /// The identity kept in `dir`.
    pub fn new(id: Identity, dir: &Path) -> Self {
        Self {
            current: Arc::new(RwLock::new(id)),
            dir: dir.to_path_buf(),
        }
    }

    /// The identity as it is now.
    pub fn get(&self) -> Identity {
        match self.current.read() {
            Ok(id) => id.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes a new secret: saved to disk first, then used. On an error
    /// nothing changed and the old secret stays in use.
    pub fn rotate(&self, secret: &str) -> anyhow::Result<()> {
        let ok = !secret.is_empty()
            && secret.len() <= 256
            && secret.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            bail!("the new node secret is malformed");
        }
        let mut next = self.get();
        next.node_secret = secret.to_string();
        next.save(&self.dir)
            .context("could not save the new node secret")?;
        match self.current.write() {
            Ok(mut id) => *id = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }
}

/// Host and port of `https://host:port`.
pub fn host_port(control: &str) -> anyhow::Result<(String, u16)> {
    let uri: Uri = control
        .parse()
        .with_context(|| format!("--control {control:?} is not a URL like https://host:7443"))?;
    if uri.scheme_str() != Some("https") {
        bail!("--control must be an https:// URL, got {control:?}");
    }
    let host = uri
        .host()
        .context("--control has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((host, uri.port_u16().unwrap_or(7443)))
}

/// A TLS channel to controld that trusts only `ca_pem`.
pub async fn channel(control: &str, ca_pem: &str) -> anyhow::Result<Channel> {
    let (host, _) = host_port(control)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(host);
    Endpoint::from_shared(control.to_string())?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        // Relay streams carry bulk data: let windows grow with the BDP.
        .http2_adaptive_window(true)
        .connect()
        .await
        .with_context(|| format!("could not connect to controld at {control}"))
}

/// An AgentService client with the same message limit controld applies
/// (tonic's own default is 4 MiB, controld's 16 MiB).
pub fn client(
    ch: tonic::transport::Channel,
) -> v1::agent_service_client::AgentServiceClient<tonic::transport::Channel> {
    v1::agent_service_client::AgentServiceClient::new(ch)
        .max_decoding_message_size(lattice_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(lattice_proto::MAX_MESSAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_roundtrip_is_private() {
        let d = tempfile::tempdir().unwrap();
        let id = Identity {
            node_id: "n1".into(),
            node_name: "box".into(),
            node_secret: "lns_canary".into(),
            ca_pem: "pem".into(),
            control: "https://127.0.0.1:7443".into(),
        };
        id.save(d.path()).unwrap();
        let back = Identity::load(d.path()).unwrap().unwrap();
        assert_eq!(back.node_id, "n1");
        let mode = fs::metadata(d.path().join("node.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{id:?}").contains("canary"));
        assert!(Identity::load(&d.path().join("nope")).unwrap().is_none());
    }

    #[test]
    fn a_rotated_secret_is_saved_before_it_is_used() {
        let d = tempfile::tempdir().unwrap();
        let id = Identity {
            node_id: "n1".into(),
            node_name: "box".into(),
            node_secret: "lns_old".into(),
            ca_pem: "pem".into(),
            control: "https://127.0.0.1:7443".into(),
        };
        id.save(d.path()).unwrap();
        let shared = Shared::new(id, d.path());
        shared.rotate("lns_new").unwrap();
        assert_eq!(shared.get().authorization(), "Node n1.lns_new");
        let on_disk = Identity::load(d.path()).unwrap().unwrap();
        assert_eq!(on_disk.node_secret, "lns_new");
        // Malformed: refused, the current secret stays.
        assert!(shared.rotate("bad secret\n").is_err());
        assert_eq!(shared.get().node_secret, "lns_new");
        // Cannot be saved: refused, memory unchanged.
        let gone = Shared::new(shared.get(), Path::new("/proc/no-such-dir"));
        assert!(gone.rotate("lns_other").is_err());
        assert_eq!(gone.get().node_secret, "lns_new");
    }

    #[test]
    fn control_urls() {
        assert_eq!(
            host_port("https://127.0.0.1:7443").unwrap(),
            ("127.0.0.1".into(), 7443)
        );
        assert_eq!(host_port("https://[::1]:1").unwrap(), ("::1".into(), 1));
        assert!(host_port("http://x:1").is_err());
    }
}
