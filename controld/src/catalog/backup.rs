//! How each kind is backed up and restored, resolved here so the agent only
//! runs commands and archives paths. Postgres: `pg_dump` in its custom
//! format (one consistent snapshot; the server keeps serving) and
//! `pg_restore` in one transaction. S3 and custom workloads with a volume:
//! a tar of the data volume taken while the container is paused, restored
//! by emptying the volume and unpacking (the workload is restarted after).
//! The commands read the credentials from the container's own environment,
//! so none travel.

use lattice_proto::state::Kind;

use super::SpecDoc;
use crate::error::{Error, Result};

/// The format of a kind's backups, as recorded in the file.
pub fn format(kind: Kind, spec: &SpecDoc) -> Result<&'static str> {
    match kind {
        Kind::Postgres => Ok("pg_dump-custom"),
        Kind::S3 => Ok("tar"),
        Kind::Custom if !spec.volume_path.is_empty() => Ok("tar"),
        Kind::Custom => Err(Error::FailedPrecondition(
            "this custom workload has no data volume to back up (deploy it with --volume PATH); \
             copy its data out with `lattice exec` instead"
                .into(),
        )),
    }
}

/// How the agent takes one.
pub struct BackupPlan {
    /// A command whose stdout is the backup…
    pub command: Vec<String>,
    /// …or a container path archived while the container is paused.
    pub archive_path: String,
}

/// How the agent restores one: the staged file's path is appended to the
/// command as its last argument (`$0` of the shell script).
pub struct RestorePlan {
    /// The command.
    pub command: Vec<String>,
    /// The workload is restarted afterwards, so its server reads the
    /// restored data from the start.
    pub restart: bool,
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// The backup plan of a workload.
pub fn backup_plan(kind: Kind, spec: &SpecDoc) -> Result<BackupPlan> {
    format(kind, spec)?;
    Ok(match kind {
        Kind::Postgres => BackupPlan {
            command: sh("exec pg_dump --format=custom -h /var/run/postgresql \
                 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\""),
            archive_path: String::new(),
        },
        _ => BackupPlan {
            command: Vec::new(),
            archive_path: spec.volume_path.clone(),
        },
    })
}

/// The restore plan of a workload.
pub fn restore_plan(kind: Kind, spec: &SpecDoc) -> Result<RestorePlan> {
    format(kind, spec)?;
    Ok(match kind {
        // Owners and grants name the old workload's user: the restored
        // objects belong to this one's.
        Kind::Postgres => RestorePlan {
            command: sh("exec pg_restore --clean --if-exists --single-transaction \
                 --exit-on-error --no-owner --no-acl -h /var/run/postgresql \
                 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" \"$0\""),
            restart: false,
        },
        // The archive holds the volume's directory itself (`data/…`).
        _ => RestorePlan {
            command: sh(&format!(
                "cd {dir} && find . -mindepth 1 -delete && tar -xf \"$0\" --strip-components=1",
                dir = shell_quote(&spec.volume_path)
            )),
            restart: true,
        },
    })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_method_and_custom_needs_a_volume() {
        let pg = backup_plan(Kind::Postgres, &SpecDoc::default()).expect("pg");
        assert!(pg.command[2].contains("pg_dump --format=custom") && pg.archive_path.is_empty());
        let spec = SpecDoc {
            volume_path: "/srv/it's".into(),
            ..SpecDoc::default()
        };
        assert_eq!(
            backup_plan(Kind::S3, &spec).expect("s3").archive_path,
            "/srv/it's"
        );
        let r = restore_plan(Kind::Custom, &spec).expect("custom with a volume");
        assert!(
            r.restart && r.command[2].starts_with(r"cd '/srv/it'\''s' && "),
            "{}",
            r.command[2]
        );
        assert!(format(Kind::Custom, &SpecDoc::default()).is_err());
    }
}
