//! What the catalogue stores of a resolved spec: the non-secret part as
//! JSON, the secret part sealed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::entity::workload;
use crate::error::{Error, Result};
use crate::secrets::SecretBox;

/// The non-secret part of a resolved spec, stored as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpecDoc {
    /// Command override.
    pub command: Vec<String>,
    /// Container ports.
    pub ports: Vec<u32>,
    /// Data volume mount path ("" = none).
    pub volume_path: String,
    /// Readiness kind.
    pub readiness: String,
    /// Readiness arguments.
    pub readiness_args: Vec<String>,
    /// Grace period between the stop signal and a kill (0 = default).
    #[serde(default)]
    pub stop_timeout_seconds: u32,
    /// The server's default limits, fixed at deploy, for what the deploy
    /// left unset (absent in workloads deployed before defaults existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_limits: Option<LimitsDoc>,
}

/// Whether a stored spec declares a data volume (one that `rm` keeps); a
/// spec that does not parse declares none.
pub fn declares_volume(spec: &str) -> bool {
    serde_json::from_str::<SpecDoc>(spec).is_ok_and(|s| !s.volume_path.is_empty())
}

/// Whether a workload keeps data in a volume on its node (an unreadable
/// spec counts as holding data: the safe answer).
pub fn has_volume(w: &workload::Model) -> bool {
    serde_json::from_str::<SpecDoc>(&w.spec).map_or(true, |s| !s.volume_path.is_empty())
}

/// CPU and memory limits as stored.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LimitsDoc {
    /// Millicores (0 = none).
    pub cpu_millis: u32,
    /// Bytes (0 = none).
    pub memory_bytes: u64,
}

/// The secret part, stored encrypted: every env var (user-given values may
/// be secrets too) and the generated credentials shown by `access`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretDoc {
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Named credentials (user, password, db / access_key, secret_key).
    pub credentials: BTreeMap<String, String>,
}

impl SecretDoc {
    /// The workload's sealed credentials, opened (empty when it has none).
    /// The one place a stored secret is decrypted.
    pub fn unseal(b: &SecretBox, w: &workload::Model) -> Result<Self> {
        match &w.credentials {
            Some(sealed) => {
                serde_json::from_slice(&b.open(&w.id, sealed)?).map_err(Error::internal)
            }
            None => Ok(Self::default()),
        }
    }

    /// Sealed for storage in workload `id`'s row.
    pub fn seal(&self, b: &SecretBox, id: &str) -> Result<String> {
        b.seal(id, &serde_json::to_vec(self).map_err(Error::internal)?)
    }
}

impl std::fmt::Debug for SecretDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDoc(***)")
    }
}
