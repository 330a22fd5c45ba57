//! The state store: one code path for SQLite (default, WAL mode) and
//! Postgres. Opening it refuses a schema newer than this binary, then applies
//! pending migrations. [`retry`] wraps every operation so transient failures
//! (a busy SQLite file, a dropped Postgres connection) are retried with
//! bounded exponential backoff and jitter instead of failing the request.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use backon::{ExponentialBuilder, Retryable};
use lattice_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, EntityTrait, RuntimeErr, SqlErr,
};

/// Resolves the database URL: the flag, or a SQLite file in the data dir.
pub fn database_url(flag: Option<&str>, data_dir: &Path) -> String {
    match flag {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("lattice.db").display()
        ),
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// SQLite's `synchronous` setting, from the URL's `synchronous` parameter
/// (which SQLite's own URL parser does not take, so it is removed).
///
/// `normal` (the default): in WAL mode a commit is not synced to disk one
/// by one; the WAL is synced at checkpoints. Nothing committed is lost when
/// controld is killed or crashes; the last commits before a power loss or
/// kernel crash can be. `full` syncs every commit (what SQLite does by
/// default), at a measured cost (docs/scaling.md).
fn sqlite_synchronous(url: &str) -> anyhow::Result<(String, SqliteSynchronous)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), SqliteSynchronous::Normal));
    };
    let mut sync = SqliteSynchronous::Normal;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", v)) => {
                sync = match v.to_ascii_lowercase().as_str() {
                    "normal" => SqliteSynchronous::Normal,
                    "full" => SqliteSynchronous::Full,
                    other => bail!(
                        "the database URL's synchronous={other:?} is not one of normal or full"
                    ),
                };
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, sync))
}

/// Connects, with bounded retries for a database that is still starting.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let sqlite = url.starts_with("sqlite:");
    let (url, sync) = if sqlite {
        sqlite_synchronous(url)?
    } else {
        (url.to_string(), SqliteSynchronous::Full)
    };
    let mut opts = ConnectOptions::new(url.clone());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if sqlite {
        // One writer at a time is SQLite's rule, but readers (WAL) run
        // beside it: enough connections that a List is not queued behind
        // writers waiting their turn. Every connection gets the same settings.
        opts.max_connections(8).map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(sync)
                .foreign_keys(true)
        });
    }
    let db = (|| async { Database::connect(opts.clone()).await })
        .retry(backoff())
        .when(is_transient)
        .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, "database not reachable yet"))
        .await
        .with_context(|| format!("could not connect to the database {}", redact_url(&url)))?;
    Ok(db)
}

/// Migrations applied to the database that this binary does not know.
pub async fn unknown_applied_migrations(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let applied = applied_migrations(db).await?;
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok(applied.into_iter().filter(|a| !known.contains(a)).collect())
}

/// Names of the migrations recorded as applied (empty for a fresh database).
pub async fn applied_migrations(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let manager = lattice_migrations::SchemaManager::new(db);
    if !manager.has_table("seaql_migrations").await? {
        return Ok(Vec::new());
    }
    let rows = sea_orm_migration_table::Entity::find().all(db).await?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// Refuses a newer schema, then applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    ensure_not_newer(db).await?;
    Migrator::up(db, None)
        .await
        .context("could not apply migrations")?;
    Ok(())
}

/// Fails with a clear error when the database was migrated by a newer build.
pub async fn ensure_not_newer(db: &DatabaseConnection) -> anyhow::Result<()> {
    let unknown = unknown_applied_migrations(db).await?;
    if !unknown.is_empty() {
        let newest_known = Migrator::migrations()
            .last()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        bail!(
            "the database schema is newer than this lattice-controld: it has migrations this build does not know ({}), \
             while this build knows up to {newest_known}. Refusing to touch it: run a lattice-controld at least as new \
             as the one that migrated it, or point --database-url at another database",
            unknown.join(", ")
        );
    }
    Ok(())
}

/// Opens the store for serving: connect, guard, migrate.
pub async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(6)
        .with_jitter()
}

/// Runs a database operation, retrying transient failures (bounded).
pub async fn retry<T, F, Fut>(op: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    op.retry(backoff())
        .when(is_transient)
        .notify(
            |e, d| tracing::warn!(error = %e, retry_in = ?d, "transient database error; retrying"),
        )
        .await
}

/// Whether an error is worth retrying: lost connections, pool timeouts, a
/// busy SQLite file, Postgres serialization failures and restarts.
pub fn is_transient(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            sqlx_transient(s)
        }
        _ => false,
    }
}

fn sqlx_transient(s: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as X;
    match s {
        X::Io(_) | X::PoolTimedOut | X::PoolClosed | X::WorkerCrashed => true,
        X::Database(d) => {
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            // SQLite: 5 BUSY, 6 LOCKED (and extended codes ending in them).
            // Postgres: 40001 serialization failure, 40P01 deadlock,
            // 57P01..57P03 shutdown / cannot connect now, 08xxx connection.
            matches!(
                code.as_str(),
                "5" | "6" | "261" | "517" | "40001" | "40P01" | "57P01" | "57P02" | "57P03"
            ) || code.starts_with("08")
        }
        _ => false,
    }
}

/// Whether an error is a unique-constraint violation (→ ALREADY_EXISTS).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The `seaql_migrations` table, read to compare with the binary's list.
mod sea_orm_migration_table {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "seaql_migrations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: String,
        pub applied_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnectionTrait;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://lattice:s3cret@db.example:5432/lattice"),
            "postgres://lattice:***@db.example:5432/lattice"
        );
        assert_eq!(
            redact_url("sqlite:///x.db?mode=rwc"),
            "sqlite:///x.db?mode=rwc"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn default_url_is_sqlite_in_data_dir() {
        let u = database_url(None, Path::new("/d"));
        assert_eq!(u, "sqlite:///d/lattice.db?mode=rwc");
        assert_eq!(
            database_url(Some(" postgres://x/y "), Path::new("/d")),
            "postgres://x/y"
        );
    }

    #[tokio::test]
    async fn transient_errors_are_retried_a_bounded_number_of_times() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = AtomicU32::new(0);
        let r: Result<u32, DbErr> = retry(|| async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                Err(DbErr::Conn(RuntimeErr::Internal("connection reset".into())))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), DbErr> = retry(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(DbErr::Conn(RuntimeErr::Internal("down".into())))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            7,
            "one try plus six bounded retries"
        );

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), DbErr> = retry(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(DbErr::RecordNotFound("x".into()))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "permanent errors are not retried"
        );
    }

    #[test]
    fn synchronous_is_read_off_the_url() {
        let (u, s) = sqlite_synchronous("sqlite:///d/x.db?mode=rwc&synchronous=full").unwrap();
        assert_eq!(u, "sqlite:///d/x.db?mode=rwc");
        assert!(matches!(s, SqliteSynchronous::Full));
        let (u, s) = sqlite_synchronous("sqlite:///d/x.db?synchronous=NORMAL").unwrap();
        assert_eq!(u, "sqlite:///d/x.db");
        assert!(matches!(s, SqliteSynchronous::Normal));
        let (_, s) = sqlite_synchronous("sqlite:///d/x.db?mode=rwc").unwrap();
        assert!(matches!(s, SqliteSynchronous::Normal), "normal by default");
        let e = sqlite_synchronous("sqlite:///d/x.db?synchronous=off").unwrap_err();
        assert!(e.to_string().contains("one of normal or full"), "{e}");
    }

    async fn pragma(db: &DatabaseConnection, name: &str) -> i64 {
        // Every pooled connection: a setting on one only would not do.
        let mut seen = Vec::new();
        for _ in 0..8 {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("PRAGMA {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            seen.push(row.try_get_by_index::<i64>(0).unwrap());
        }
        seen.dedup();
        assert_eq!(
            seen.len(),
            1,
            "{name} differs between connections: {seen:?}"
        );
        seen[0]
    }

    #[tokio::test]
    async fn sqlite_syncs_at_checkpoints_unless_asked_to_sync_every_commit() {
        let d = tempfile::tempdir().unwrap();
        let db = open(&database_url(None, d.path())).await.unwrap();
        assert_eq!(pragma(&db, "synchronous").await, 1, "normal");
        assert_eq!(pragma(&db, "foreign_keys").await, 1);
        let full = format!("{}&synchronous=full", database_url(None, d.path()));
        let db = open(&full).await.unwrap();
        assert_eq!(pragma(&db, "synchronous").await, 2, "full");
    }

    #[tokio::test]
    async fn sqlite_runs_in_wal_mode() {
        let d = tempfile::tempdir().unwrap();
        let db = open(&database_url(None, d.path())).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "PRAGMA journal_mode",
            ))
            .await
            .unwrap()
            .unwrap();
        let mode: String = row.try_get_by_index(0).unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn fresh_sqlite_migrates_and_refuses_newer_schema() {
        let d = tempfile::tempdir().unwrap();
        let url = database_url(None, d.path());
        let db = open(&url).await.unwrap();
        assert!(unknown_applied_migrations(&db).await.unwrap().is_empty());
        db.execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_future', 0)",
        )
        .await
        .unwrap();
        let err = migrate(&db).await.unwrap_err().to_string();
        assert!(err.contains("newer than this lattice-controld"), "{err}");
        assert!(err.contains("m29990101_000001_future"), "{err}");
    }
}
