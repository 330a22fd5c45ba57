//! The server's TLS identity. A fresh controld creates its own CA and a
//! server certificate signed by it in `<data-dir>/tls/`, and reuses them on
//! every later start; clients pin the CA, so the leaf can be reissued (for a
//! new `--public-host`) without anyone re-trusting. Operators may bring their
//! own chain with `--tls-cert/--tls-key`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, pem::PemObject};

/// What the gRPC server presents, and what clients pin.
pub struct TlsIdentity {
    /// Leaf first, then issuers, PEM.
    pub chain_pem: String,
    /// The leaf's private key, PEM.
    pub key_pem: String,
    /// PEM of the certificate clients pin: the last one in the chain (our CA).
    pub anchor_pem: String,
    /// `sha256:…` of the anchor, printed at start for users to compare.
    pub fingerprint: String,
}

struct Paths {
    ca_cert: PathBuf,
    ca_key: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    sans: PathBuf,
}

impl Paths {
    fn new(data_dir: &Path) -> Self {
        let d = data_dir.join("tls");
        Self {
            ca_cert: d.join("ca.pem"),
            ca_key: d.join("ca.key"),
            cert: d.join("server.pem"),
            key: d.join("server.key"),
            sans: d.join("server.sans"),
        }
    }
}

/// Loads operator-provided files, or loads/creates the generated identity.
pub fn load_or_create(
    data_dir: &Path,
    sans: &[String],
    operator: Option<(&Path, &Path)>,
) -> anyhow::Result<TlsIdentity> {
    if let Some((cert, key)) = operator {
        return load_operator(cert, key);
    }
    let p = Paths::new(data_dir);
    crate::fsutil::create_private_dir(&data_dir.join("tls"))?;

    let (ca_pem, ca_key_pem) = if p.ca_cert.exists() && p.ca_key.exists() {
        (read(&p.ca_cert)?, read(&p.ca_key)?)
    } else {
        let (c, k) = new_ca()?;
        crate::fsutil::write_private(&p.ca_key, k.as_bytes())?;
        crate::fsutil::write_private(&p.ca_cert, c.as_bytes())?;
        tracing::info!(path = %p.ca_cert.display(), "created a new certificate authority");
        (c, k)
    };

    let wanted_sans = sans.join("\n");
    let current_sans = fs::read_to_string(&p.sans).unwrap_or_default();
    let (leaf_pem, leaf_key_pem) =
        if p.cert.exists() && p.key.exists() && current_sans == wanted_sans {
            (read(&p.cert)?, read(&p.key)?)
        } else {
            let (c, k) = new_leaf(&ca_pem, &ca_key_pem, sans)?;
            crate::fsutil::write_private(&p.key, k.as_bytes())?;
            crate::fsutil::write_private(&p.cert, c.as_bytes())?;
            crate::fsutil::write_private(&p.sans, wanted_sans.as_bytes())?;
            tracing::info!(names = ?sans, "issued a server certificate");
            (c, k)
        };

    let anchor = first_der(&ca_pem)?;
    Ok(TlsIdentity {
        chain_pem: format!("{leaf_pem}{ca_pem}"),
        key_pem: leaf_key_pem,
        fingerprint: lattice_proto::pki::fingerprint(&anchor),
        anchor_pem: ca_pem,
    })
}

fn load_operator(cert: &Path, key: &Path) -> anyhow::Result<TlsIdentity> {
    let chain_pem = read(cert)?;
    let key_pem = read(key)?;
    let ders = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    let Some(anchor) = ders.last() else {
        bail!("{} holds no certificate", cert.display());
    };
    rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    let anchor_pem = lattice_proto::pki::certificate_pem(anchor);
    Ok(TlsIdentity {
        fingerprint: lattice_proto::pki::fingerprint(anchor),
        chain_pem,
        key_pem,
        anchor_pem,
    })
}

fn new_ca() -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate().context("could not generate the CA key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Lattice control plane CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn new_leaf(ca_pem: &str, ca_key_pem: &str, sans: &[String]) -> anyhow::Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("tls/ca.key is not a valid key")?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).context("tls/ca.pem is not valid")?;
    let key = KeyPair::generate().context("could not generate the server key")?;
    let mut params = CertificateParams::new(sans.to_vec())
        .with_context(|| format!("invalid certificate names {sans:?}"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "lattice-controld");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn read(p: &Path) -> anyhow::Result<String> {
    fs::read_to_string(p).with_context(|| format!("could not read {}", p.display()))
}

fn first_der(pem: &str) -> anyhow::Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem.as_bytes()).context("invalid PEM certificate")
}

/// Writes the anchor next to the data so operators can hand it out
/// (`lattice --ca-cert`), and the fingerprint for scripts.
pub fn publish(data_dir: &Path, id: &TlsIdentity) -> anyhow::Result<()> {
    let mut f = fs::File::create(data_dir.join("ca-fingerprint"))?;
    writeln!(f, "{}", id.fingerprint)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let a = load_or_create(d.path(), &sans, None).unwrap();
        let b = load_or_create(d.path(), &sans, None).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.chain_pem, b.chain_pem);
        // a new public host reissues the leaf under the same CA
        let more = vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "lattice.example.net".into(),
        ];
        let c = load_or_create(d.path(), &more, None).unwrap();
        assert_eq!(a.fingerprint, c.fingerprint);
        assert_ne!(a.chain_pem, c.chain_pem);
        let mode = |p: &str| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(d.path().join("tls").join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("ca.key"), 0o600);
        assert_eq!(mode("server.key"), 0o600);
    }

    #[test]
    fn operator_chain_pins_its_last_certificate() {
        let d = tempfile::tempdir().unwrap();
        let sans = vec!["localhost".to_string()];
        let gen_id = load_or_create(d.path(), &sans, None).unwrap();
        let op = load_operator(
            &d.path().join("tls/server.pem"),
            &d.path().join("tls/server.key"),
        )
        .unwrap();
        // server.pem alone holds only the leaf: it is its own anchor
        assert_ne!(op.fingerprint, gen_id.fingerprint);
        assert!(
            load_operator(
                &d.path().join("tls/server.key"),
                &d.path().join("tls/server.key")
            )
            .is_err()
        );
    }
}
