//! Is a Postgres server ready for its owner? A real login over TCP with the
//! workload's generated credentials, then `select 1` — what `pg_isready`
//! followed by a `psql` login checks, done from the agent itself: no
//! process is started in the container (a `docker exec` cost 100–150 ms per
//! check), so it is cheap enough to repeat every probe. Nothing of the
//! credentials or of the server's answer is logged.

use std::time::Duration;

/// The most one check may take (a server that accepts the connection but
/// never answers is "not ready", not a stuck probe).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Who logs in, where.
pub struct Login<'a> {
    /// The container's address on its owner's network.
    pub ip: &'a str,
    /// The server's port in the container.
    pub port: u32,
    /// `POSTGRES_USER`.
    pub user: &'a str,
    /// `POSTGRES_PASSWORD`.
    pub password: &'a str,
    /// `POSTGRES_DB`.
    pub database: &'a str,
}

/// Whether `login` succeeds and the server answers a query. Refused
/// connections, "the database system is starting up", a failed login and a
/// timeout all mean "not yet".
pub async fn ready(login: &Login<'_>) -> bool {
    let Ok(port) = u16::try_from(login.port) else {
        return false;
    };
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(login.ip)
        .port(port)
        .user(login.user)
        .password(login.password)
        .dbname(login.database)
        .application_name("lattice-readiness")
        .connect_timeout(CHECK_TIMEOUT);
    let check = async {
        let (client, connection) = cfg.connect(tokio_postgres::NoTls).await.ok()?;
        // The connection does the I/O; it ends once the client is dropped.
        let io = tokio::spawn(connection);
        let answered = client.simple_query("select 1").await.is_ok();
        drop(client);
        let _ = io.await;
        Some(answered)
    };
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, check).await,
        Ok(Some(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_listening_is_not_ready_and_fails_fast() {
        // A port nobody listens on: refused at once, not after the timeout.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = u32::from(l.local_addr().unwrap().port());
        drop(l);
        let t = std::time::Instant::now();
        let login = Login {
            ip: "127.0.0.1",
            port,
            user: "u",
            password: "p",
            database: "d",
        };
        assert!(!ready(&login).await);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let bad_port = Login {
            port: 70_000,
            ..login
        };
        assert!(!ready(&bad_port).await);
    }
}
