//! Service templates. A deploy request names a kind; the catalogue turns it
//! into a fully resolved container spec (image, env with freshly generated
//! credentials, ports, volume, readiness) so the agent stays a generic
//! executor. Which image each kind uses is controld configuration.

use std::collections::BTreeMap;

use lattice_proto::state::Kind;
use lattice_proto::{v1, validate};
use rand::TryRngCore;
use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::OsRng;

use crate::error::{Error, Result};

pub mod backup;
mod docs;
pub use docs::{LimitsDoc, SecretDoc, SpecDoc, declares_volume, has_volume};

/// Images per kind (flags `--postgres-image`, `--s3-image`).
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Image for `postgres`.
    pub postgres_image: String,
    /// Image for `s3` (alias `minio`).
    pub s3_image: String,
}

/// Parses a kind as typed (`postgresql` and `minio` are aliases).
pub fn parse_kind(raw: &str) -> Result<Kind> {
    Ok(lattice_proto::validate::kind(raw)?)
}

/// A resolved deploy.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Kind.
    pub kind: Kind,
    /// Image.
    pub image: String,
    /// Non-secret spec.
    pub spec: SpecDoc,
    /// Secret spec.
    pub secret: SecretDoc,
    /// Resources (millicores, bytes).
    pub cpu_millis: u32,
    /// Memory limit.
    pub memory_bytes: u64,
}

fn random(len: usize) -> Result<String> {
    let mut rng = OsRng.unwrap_err();
    Ok(Alphanumeric.sample_string(&mut rng, len))
}

fn random_upper(len: usize) -> Result<String> {
    Ok(random(len * 2)?
        .to_ascii_uppercase()
        .chars()
        .take(len)
        .collect())
}

/// An identifier safe for Postgres (`my-db` → `my_db`).
fn pg_ident(name: &str) -> String {
    name.replace('-', "_")
}

impl Catalog {
    /// Validates a deploy request and resolves it.
    pub fn resolve(&self, r: &v1::DeployRequest) -> Result<Resolved> {
        validate::name("name", &r.name)?;
        let kind = parse_kind(&r.kind)?;
        let res = r.resources.unwrap_or_default();
        validate::resources(res.cpu_millis, res.memory_bytes)?;
        validate::command(&r.command)?;
        validate::stop_timeout(r.stop_timeout_seconds)?;
        validate::env(r.env.iter().map(|e| (e.key.as_str(), e.value.as_str())))?;
        let mut ports = Vec::new();
        for p in &r.ports {
            validate::port(*p)?;
            if !ports.contains(p) {
                ports.push(*p);
            }
        }
        if ports.len() > 16 {
            return Err(Error::Invalid(lattice_proto::ValidationError {
                field: "port",
                rule: "at most 16 ports".into(),
            }));
        }
        if !r.volume_path.is_empty() {
            validate::volume_path(&r.volume_path)?;
        }
        if !r.image.is_empty() {
            validate::image(&r.image)?;
        }
        let user_env: Vec<(String, String)> = r
            .env
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        let mut out = Resolved {
            kind,
            image: String::new(),
            spec: SpecDoc::default(),
            secret: SecretDoc::default(),
            cpu_millis: res.cpu_millis,
            memory_bytes: res.memory_bytes,
        };
        match kind {
            Kind::Postgres => {
                let user = format!("u_{}", pg_ident(&r.name));
                let db = pg_ident(&r.name);
                let password = random(32)?;
                out.image = pick(&r.image, &self.postgres_image);
                out.secret.env = vec![
                    ("POSTGRES_USER".into(), user.clone()),
                    ("POSTGRES_PASSWORD".into(), password.clone()),
                    ("POSTGRES_DB".into(), db.clone()),
                ];
                out.secret.credentials = BTreeMap::from([
                    ("user".into(), user),
                    ("password".into(), password),
                    ("database".into(), db),
                ]);
                out.spec = SpecDoc {
                    command: r.command.clone(),
                    ports: vec![5432],
                    volume_path: "/var/lib/postgresql/data".into(),
                    // Ready means a real login with the generated
                    // credentials works over TCP and answers `select 1`:
                    // agents check that themselves, from the spec's env.
                    // The command is the same check for agents older than
                    // that (they exec it in the container once it accepts
                    // connections); its values come from the container's env.
                    readiness: "postgres".into(),
                    readiness_args: vec![
                        "sh".into(),
                        "-c".into(),
                        "pg_isready -q -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" && \
                         PGPASSWORD=\"$POSTGRES_PASSWORD\" psql -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -tAc 'select 1' >/dev/null"
                            .into(),
                    ],
                    stop_timeout_seconds: r.stop_timeout_seconds,
                    default_limits: None,
                };
            }
            Kind::S3 => {
                let access = random_upper(20)?;
                let secret = random(40)?;
                out.image = pick(&r.image, &self.s3_image);
                out.secret.env = vec![
                    ("RUSTFS_ACCESS_KEY".into(), access.clone()),
                    ("RUSTFS_SECRET_KEY".into(), secret.clone()),
                ];
                out.secret.credentials =
                    BTreeMap::from([("access_key".into(), access), ("secret_key".into(), secret)]);
                out.spec = SpecDoc {
                    command: r.command.clone(),
                    ports: vec![9000],
                    volume_path: "/data".into(),
                    readiness: "http".into(),
                    readiness_args: vec!["/".into()],
                    stop_timeout_seconds: r.stop_timeout_seconds,
                    default_limits: None,
                };
            }
            Kind::Custom => {
                lattice_proto::validate::kind_needs(Kind::Custom, &r.image)?;
                out.image = r.image.clone();
                out.spec = SpecDoc {
                    command: r.command.clone(),
                    readiness: if ports.is_empty() {
                        "none".into()
                    } else {
                        "tcp".into()
                    },
                    ports,
                    volume_path: r.volume_path.clone(),
                    readiness_args: Vec::new(),
                    stop_timeout_seconds: r.stop_timeout_seconds,
                    default_limits: None,
                };
            }
        }
        check_user_env(kind, &user_env)?;
        out.secret.env.extend(user_env);
        validate::env(out.secret.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(out)
    }
}

impl Catalog {
    /// New credentials for a kind (rotation), with the env they map to.
    pub fn fresh_credentials(&self, kind: Kind) -> Result<SecretDoc> {
        match kind {
            Kind::Postgres => {
                let password = random(32)?;
                Ok(SecretDoc {
                    env: vec![("POSTGRES_PASSWORD".into(), password.clone())],
                    credentials: BTreeMap::from([("password".into(), password)]),
                })
            }
            Kind::S3 => {
                let access = random_upper(20)?;
                let secret = random(40)?;
                Ok(SecretDoc {
                    env: vec![("RUSTFS_ACCESS_KEY".into(), access.clone()), ("RUSTFS_SECRET_KEY".into(), secret.clone())],
                    credentials: BTreeMap::from([("access_key".into(), access), ("secret_key".into(), secret)]),
                })
            }
            Kind::Custom => Err(Error::FailedPrecondition(
                "custom workloads have no generated credentials to rotate; redeploy with new --env values".into(),
            )),
        }
    }
}

/// The env vars Lattice sets from a kind's generated credentials; the rest
/// of a workload's env is the user's.
pub fn generated_env_keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Postgres => &["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"],
        Kind::S3 => &["RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY"],
        Kind::Custom => &[],
    }
}

/// Refuses user env that would override generated credentials: `lattice
/// access` would then print a credential that does not work.
pub fn check_user_env(kind: Kind, env: &[(String, String)]) -> Result<()> {
    validate::env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if let Some((k, _)) = env
        .iter()
        .find(|(k, _)| generated_env_keys(kind).contains(&k.as_str()))
    {
        return Err(Error::Invalid(lattice_proto::ValidationError {
            field: "env",
            rule: format!(
                "{k} is set by Lattice for {kind} workloads (see `lattice access`); remove --env {k}"
            ),
        }));
    }
    Ok(())
}

fn pick(requested: &str, default: &str) -> String {
    if requested.is_empty() {
        default.to_string()
    } else {
        requested.to_string()
    }
}

/// Whether a custom port is conventionally HTTP (for `access` formatting).
pub fn is_http_port(kind: Kind, port: u32) -> bool {
    match kind {
        Kind::S3 => true,
        Kind::Custom => matches!(port, 80 | 443 | 3000 | 5000 | 8000 | 8080 | 8888),
        Kind::Postgres => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        Catalog {
            postgres_image: "postgres:16".into(),
            s3_image: "rustfs/rustfs:latest".into(),
        }
    }

    fn req(kind: &str) -> v1::DeployRequest {
        v1::DeployRequest {
            name: "my-db".into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn generated_credentials_cannot_be_overridden() {
        let mut r = req("postgres");
        r.env = vec![v1::EnvVar {
            key: "POSTGRES_USER".into(),
            value: "root".into(),
        }];
        let e = cat().resolve(&r).unwrap_err().to_string();
        assert!(e.contains("POSTGRES_USER is set by Lattice"), "{e}");
        // Other names are the user's own.
        r.env[0].key = "TZ".into();
        assert!(cat().resolve(&r).is_ok());
    }

    #[test]
    fn postgres_gets_fresh_credentials_and_a_real_readiness_check() {
        let a = cat().resolve(&req("postgres")).unwrap();
        let b = cat().resolve(&req("postgres")).unwrap();
        assert_eq!(a.image, "postgres:16");
        assert_eq!(a.secret.credentials["user"], "u_my_db");
        assert_eq!(a.secret.credentials["database"], "my_db");
        assert_eq!(a.secret.credentials["password"].len(), 32);
        assert_ne!(
            a.secret.credentials["password"],
            b.secret.credentials["password"]
        );
        assert_eq!(a.spec.ports, vec![5432]);
        assert_eq!(a.spec.volume_path, "/var/lib/postgresql/data");
        assert_eq!(a.spec.readiness, "postgres");
        assert!(a.spec.readiness_args[2].contains("psql"));
        assert!(
            !format!("{a:?}").contains(&a.secret.credentials["password"]),
            "Debug must hide secrets"
        );
    }

    #[test]
    fn minio_is_an_alias_and_image_overrides() {
        let mut r = req("minio");
        r.image = "lattice-local/s3:latest".into();
        let s = cat().resolve(&r).unwrap();
        assert_eq!(s.kind, Kind::S3);
        assert_eq!(s.image, "lattice-local/s3:latest");
        assert_eq!(s.secret.credentials["access_key"].len(), 20);
        assert!(
            s.secret.credentials["access_key"]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn custom_needs_an_image_and_validates_everything() {
        let e = cat().resolve(&req("custom")).unwrap_err().to_string();
        assert!(e.contains("image is required"), "{e}");
        let mut r = req("custom");
        r.image = "nginx:1.27".into();
        r.ports = vec![80];
        r.env = vec![v1::EnvVar {
            key: "GREETING".into(),
            value: "hi".into(),
        }];
        let c = cat().resolve(&r).unwrap();
        assert_eq!(c.spec.readiness, "tcp");
        assert_eq!(
            c.secret.env,
            vec![("GREETING".to_string(), "hi".to_string())]
        );
        r.ports = vec![0];
        assert!(
            cat()
                .resolve(&r)
                .unwrap_err()
                .to_string()
                .contains("port must be")
        );
        r.ports = vec![80];
        r.name = "Bad_Name".into();
        assert!(
            cat()
                .resolve(&r)
                .unwrap_err()
                .to_string()
                .starts_with("name must be")
        );
        assert!(
            cat()
                .resolve(&req("redis"))
                .unwrap_err()
                .to_string()
                .starts_with("kind must be")
        );
    }
}
