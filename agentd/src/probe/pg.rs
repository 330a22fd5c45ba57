//! Does a Postgres server accept connections? What `pg_isready` asks
//! (libpq's `PQping`): send a startup message and read the first reply. An
//! authentication request, or any error but "the database system is
//! starting up" (SQLSTATE 57P03), means it accepts connections; no reply,
//! a refused connection or 57P03 means not yet. No password is sent.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Protocol 3.0.
const PROTOCOL: i32 = 196_608;
/// "cannot connect now": starting up, shutting down, in recovery.
const CANNOT_CONNECT_NOW: &str = "57P03";

/// The startup message for `user` and `database`.
fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&PROTOCOL.to_be_bytes());
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// Whether a first reply (its type byte and the bytes after the length)
/// says the server accepts connections.
fn accepts(kind: u8, body: &[u8]) -> bool {
    match kind {
        // An authentication request (or any request of the login's next step).
        b'R' => true,
        // An error: fields of a type byte and a NUL-ended string; 'C' is the SQLSTATE.
        b'E' => {
            let code = body
                .split(|b| *b == 0)
                .find_map(|f| f.strip_prefix(b"C"))
                .unwrap_or_default();
            code != CANNOT_CONNECT_NOW.as_bytes()
        }
        _ => false,
    }
}

/// Pings the server at `ip:port` as `user` on `database`.
pub async fn accepting(ip: &str, port: u32, user: &str, database: &str) -> bool {
    let Ok(port) = u16::try_from(port) else {
        return false;
    };
    let ping = async {
        let mut s = TcpStream::connect((ip, port)).await.ok()?;
        s.write_all(&startup(user, database)).await.ok()?;
        let kind = s.read_u8().await.ok()?;
        let len = usize::try_from(s.read_i32().await.ok()?).ok()?;
        let mut body = vec![0u8; len.saturating_sub(4).min(4096)];
        s.read_exact(&mut body).await.ok()?;
        Some(accepts(kind, &body))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ping).await,
        Ok(Some(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_message_is_length_prefixed_protocol_three() {
        let m = startup("u_db", "db");
        assert_eq!(&m[..4], &(m.len() as i32).to_be_bytes());
        assert_eq!(&m[4..8], &[0, 3, 0, 0]);
        assert_eq!(&m[8..], b"user\0u_db\0database\0db\0\0");
    }

    #[test]
    fn only_an_auth_request_or_an_error_other_than_starting_up_means_accepting() {
        assert!(accepts(b'R', &[0, 0, 0, 10]), "SASL requested");
        let starting = b"SFATAL\0C57P03\0Mthe database system is starting up\0\0";
        assert!(!accepts(b'E', starting));
        let no_db = b"SFATAL\0C3D000\0Mdatabase \"x\" does not exist\0\0";
        assert!(accepts(b'E', no_db), "it answered: it accepts connections");
        assert!(!accepts(b'N', b""), "anything else is not an answer");
    }
}
