//! Trust on first use, as ssh does: the first time the CLI meets a server it
//! fetches the certificate chain the server presents, shows the fingerprint
//! of the chain's last certificate (controld's CA) and pins that certificate
//! as the only trust anchor for the server from then on. A different
//! certificate later is refused with a message that says how to re-trust.

use std::time::Duration;

use anyhow::bail;
use lattice_proto::pki;

use crate::server::ServerAddr;

pub use pki::Presented;

/// Connects and returns the anchor certificate the server presents.
pub async fn fetch(addr: &ServerAddr) -> anyhow::Result<Presented> {
    match pki::fetch_presented(&addr.host, addr.port, Duration::from_secs(10)).await {
        Ok(p) => Ok(p),
        Err(pki::FetchError::Connect(e)) => Err(crate::error::unreachable(addr, &e)),
        Err(e) => Err(anyhow::anyhow!("{e} ({})", addr.url)),
    }
}

/// How the user lets us trust a new certificate.
pub struct Consent<'a> {
    /// `--trust-fingerprint`.
    pub expected: Option<&'a str>,
    /// `--yes`.
    pub yes: bool,
}

/// Decides whether to trust `p` for `addr`: a matching expected fingerprint,
/// `--yes`, or a "yes" typed at a terminal. Without a terminal, fails at once
/// naming the flags.
pub fn confirm(addr: &ServerAddr, p: &Presented, consent: &Consent<'_>) -> anyhow::Result<()> {
    if let Some(exp) = consent.expected {
        let exp = pki::normalise_fingerprint(exp);
        if exp == p.fingerprint {
            return Ok(());
        }
        bail!(
            "the server at {} presents certificate {} but you expected {exp}; not trusting it",
            addr.url,
            p.fingerprint
        );
    }
    if consent.yes {
        eprintln!(
            "Trusting {} with certificate fingerprint {}",
            addr.url, p.fingerprint
        );
        return Ok(());
    }
    if !crate::confirm::interactive() {
        bail!(
            "{} is not trusted yet and there is no terminal to ask. Compare its fingerprint {} with what \
             lattice-controld printed at start (or `<data-dir>/ca-fingerprint` on the server), then pass \
             --trust-fingerprint {} (or LATTICE_TRUST_FINGERPRINT), or --yes",
            addr.url,
            p.fingerprint,
            p.fingerprint
        );
    }
    eprintln!(
        "The authenticity of the Lattice server {} can't be established.",
        addr.url
    );
    eprintln!("Its certificate fingerprint is {}.", p.fingerprint);
    eprintln!(
        "Compare it with what lattice-controld printed at start (or `<data-dir>/ca-fingerprint` on the server)."
    );
    crate::confirm::ask("Trust this server?", "--trust-fingerprint or --yes")
}

/// The error for a pinned certificate that no longer matches.
pub fn changed(addr: &ServerAddr, pinned: &str, now: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::CliError::CertificateChanged(format!(
        "the certificate of {} has CHANGED since you trusted it (pinned {pinned}, now {now}). This happens when \
         the server was reinstalled, or when someone is intercepting the connection. If you expected it, check \
         the new fingerprint with the server's operator, then run `lattice trust --replace --trust-fingerprint {now}`",
        addr.url
    )))
}
