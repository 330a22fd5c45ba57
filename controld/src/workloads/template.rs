//! What a user chose for a workload — image, spec, their own env, resources
//! — as one value: a version stores it, an update compares it with what
//! runs, a rollback applies an old one. Generated credentials are not part
//! of it: a new version keeps the workload's own.

use lattice_proto::state::Kind;
use lattice_proto::v1;
use serde::{Deserialize, Serialize};

use crate::catalog::{Resolved, SecretDoc, SpecDoc, generated_env_keys};
use crate::entity::workload;
use crate::error::{Error, Result};
use crate::secrets::SecretBox;

/// Everything one version of a workload fixes.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Template {
    /// Image.
    pub image: String,
    /// The non-secret spec.
    pub spec: SpecDoc,
    /// The user's env vars, in order (values may be secrets).
    pub env: Vec<(String, String)>,
    /// Millicores asked for (0 = the defaults).
    pub cpu_millis: i64,
    /// Bytes asked for (0 = the defaults).
    pub memory_bytes: i64,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("image", &self.image)
            .field("spec", &self.spec)
            .field("env", &"***")
            .finish()
    }
}

/// The user's part of a workload's env (what Lattice generated left out).
pub fn user_env(kind: Kind, env: &[(String, String)]) -> Vec<(String, String)> {
    let generated = generated_env_keys(kind);
    env.iter()
        .filter(|(k, _)| !generated.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// `doc` with its user env replaced by `env` (generated entries kept).
pub fn with_user_env(kind: Kind, doc: &SecretDoc, env: &[(String, String)]) -> SecretDoc {
    let generated = generated_env_keys(kind);
    let mut out = SecretDoc {
        env: doc
            .env
            .iter()
            .filter(|(k, _)| generated.contains(&k.as_str()))
            .cloned()
            .collect(),
        credentials: doc.credentials.clone(),
    };
    out.env.extend(env.iter().cloned());
    out
}

impl Template {
    /// What a workload row runs now.
    pub fn of(w: &workload::Model, secret: &SecretDoc) -> Result<Self> {
        Ok(Self {
            image: w.image.clone(),
            spec: serde_json::from_str(&w.spec).map_err(Error::internal)?,
            env: user_env(w.kind, &secret.env),
            cpu_millis: w.cpu_millis,
            memory_bytes: w.memory_bytes,
        })
    }

    /// What a resolved deploy asks for.
    pub fn from_resolved(r: &Resolved) -> Self {
        Self {
            image: r.image.clone(),
            spec: r.spec.clone(),
            env: user_env(r.kind, &r.secret.env),
            cpu_millis: i64::from(r.cpu_millis),
            memory_bytes: i64::try_from(r.memory_bytes).unwrap_or(i64::MAX),
        }
    }

    /// Sealed for a version row of workload `id`.
    pub fn seal(&self, b: &SecretBox, id: &str) -> Result<String> {
        b.seal(id, &serde_json::to_vec(self).map_err(Error::internal)?)
    }

    /// A version row's template, opened.
    pub fn open(b: &SecretBox, id: &str, sealed: &str) -> Result<Self> {
        serde_json::from_slice(&b.open(id, sealed)?).map_err(Error::internal)
    }

    /// What history shows of it: nothing secret.
    pub fn summary(&self) -> Summary {
        Summary {
            image: self.image.clone(),
            ports: self.spec.ports.clone(),
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
            env_keys: self.env.iter().map(|(k, _)| k.clone()).collect(),
            command: self.spec.command.clone(),
        }
    }
}

/// The non-secret face of a version, stored as JSON beside the sealed one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Image.
    pub image: String,
    /// Container ports.
    pub ports: Vec<u32>,
    /// Millicores asked for.
    pub cpu_millis: i64,
    /// Bytes asked for.
    pub memory_bytes: i64,
    /// Env var names.
    pub env_keys: Vec<String>,
    /// Command override.
    pub command: Vec<String>,
}

impl Summary {
    /// On the wire, as version `version`.
    pub fn to_proto(&self, version: i64, cause: &str, at: i64, current: bool) -> v1::Version {
        v1::Version {
            version,
            cause: cause.to_string(),
            created_at: Some(v1::Timestamp::from_millis(at)),
            image: self.image.clone(),
            ports: self.ports.clone(),
            resources: Some(v1::Resources {
                cpu_millis: u32::try_from(self.cpu_millis).unwrap_or(0),
                memory_bytes: u64::try_from(self.memory_bytes).unwrap_or(0),
            }),
            env_keys: self.env_keys.clone(),
            command: self.command.clone(),
            current,
        }
    }
}

/// A change of env: `set` replaces or appends (in order), `unset` removes.
/// Unsetting a name that is not there is refused, naming what is.
pub fn change_env(
    env: &[(String, String)],
    set: &[(String, String)],
    unset: &[String],
) -> Result<Vec<(String, String)>> {
    let mut out = env.to_vec();
    for k in unset {
        let before = out.len();
        out.retain(|(ek, _)| ek != k);
        if out.len() == before {
            let have: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
            return Err(Error::Invalid(lattice_proto::ValidationError {
                field: "env",
                rule: format!(
                    "{k} is not set (set: {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            }));
        }
    }
    for (k, v) in set {
        match out.iter_mut().find(|(ek, _)| ek == k) {
            Some(slot) => slot.1.clone_from(v),
            None => out.push((k.clone(), v.clone())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn env_changes_replace_in_place_append_and_refuse_unknown_unsets() {
        let env = vec![kv("A", "1"), kv("B", "2")];
        let out = change_env(&env, &[kv("B", "3"), kv("C", "4")], &["A".into()]).unwrap();
        assert_eq!(out, vec![kv("B", "3"), kv("C", "4")]);
        let e = change_env(&env, &[], &["Z".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Z is not set (set: A, B)"), "{e}");
    }

    #[test]
    fn user_env_leaves_the_generated_credentials_alone() {
        let doc = SecretDoc {
            env: vec![kv("POSTGRES_PASSWORD", "p"), kv("TZ", "UTC")],
            credentials: Default::default(),
        };
        assert_eq!(user_env(Kind::Postgres, &doc.env), vec![kv("TZ", "UTC")]);
        let next = with_user_env(Kind::Postgres, &doc, &[kv("LANG", "C")]);
        assert_eq!(
            next.env,
            vec![kv("POSTGRES_PASSWORD", "p"), kv("LANG", "C")]
        );
        assert_eq!(user_env(Kind::Custom, &doc.env).len(), 2);
    }

    #[test]
    fn debug_hides_env_values() {
        let t = Template {
            image: "i".into(),
            spec: SpecDoc::default(),
            env: vec![kv("TOKEN", "s3cr3t")],
            cpu_millis: 0,
            memory_bytes: 0,
        };
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
