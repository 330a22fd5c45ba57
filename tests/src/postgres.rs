//! Databases on the throwaway Postgres server `make test` starts.

use anyhow::Context;

/// A fresh, empty Postgres database for one test, on the server named by
/// `LATTICE_TEST_POSTGRES_URL` (make test starts one). Fails loudly when
/// none is configured: the Postgres backend is part of what we ship.
pub async fn fresh_postgres_database() -> anyhow::Result<String> {
    let admin = std::env::var("LATTICE_TEST_POSTGRES_URL").context(
        "LATTICE_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts a throwaway Postgres \
         (scripts/test-postgres.sh), or point it at a server where you may create databases",
    )?;
    fresh_database_on(&admin).await
}

/// A fresh, empty database on the server at `admin` (a URL with a /database).
pub async fn fresh_database_on(admin: &str) -> anyhow::Result<String> {
    use sea_orm::ConnectionTrait;
    let name = format!("lattice_e2e_{}", uuid::Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(admin).await?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    db.close().await?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .context("the Postgres URL needs a /database")?;
    Ok(format!("{base}/{name}"))
}
