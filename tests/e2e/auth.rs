//! Accounts, sessions, lockout, certificate pinning and secret hygiene,
//! through the real `lattice` CLI and `lattice-controld` over TLS.

use std::time::Duration;

use lattice_e2e::{Cli, Controld, leaked};
use lattice_proto::v1::{self, auth_service_client::AuthServiceClient};
use tonic::Code;

const PW: &str = "correct horse battery staple";

/// The whole user journey on whichever store `extra` selects.
fn journey(extra: &[&str]) {
    let mut c = Controld::start(extra).unwrap();
    let cli = Cli::new(Some(&c.url()));
    let r = cli.register("Ada@Example.com", PW, &c.fingerprint);
    assert!(
        r.stdout.contains("Registered ada@example.com as admin"),
        "{}",
        r.stdout
    );

    let who = cli.run(&["whoami", "-o", "json"], None).ok().json();
    assert_eq!(who["email"], "ada@example.com");
    assert_eq!(who["role"], "admin");
    assert_eq!(who["server"], c.url());
    assert!(
        who["session_expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );

    // The same email again: ALREADY_EXISTS in words, nothing changed.
    let dup = cli
        .run(
            &["register", "--email", "ada@example.com", "--password-stdin"],
            Some(&format!("{PW}\n")),
        )
        .fails_with(1);
    assert!(
        dup.stderr
            .contains("an account with this email already exists"),
        "{}",
        dup.stderr
    );

    // A second account is a plain user; login works from a second machine.
    let bob = Cli::new(Some(&c.url()));
    let r = bob.register("bob@example.com", PW, &c.fingerprint);
    assert!(r.stdout.contains("as user"), "{}", r.stdout);
    let table = bob.run(&["whoami"], None).ok();
    assert!(
        table.stdout.contains("bob@example.com") && table.stdout.contains("user"),
        "{}",
        table.stdout
    );

    // Restart: accounts and sessions survive.
    c.restart().unwrap();
    cli.run(&["whoami"], None).ok();
    cli.login("ada@example.com", PW).ok();

    // Logout revokes on the server and removes the local token.
    let before = cli.stored_session(&c.url()).expect("stored session");
    cli.run(&["logout"], None).ok();
    assert!(cli.stored_session(&c.url()).is_none());
    let r = cli.run(&["whoami"], None).fails_with(4);
    assert!(r.stderr.contains("lattice login"), "{}", r.stderr);
    // The revoked refresh token is dead on the server too.
    let rt = before["refresh_token"].as_str().unwrap().to_string();
    let rt_dead = tokio_rt().block_on(async {
        let ch = c.channel().await.unwrap();
        AuthServiceClient::new(ch)
            .refresh(v1::RefreshRequest { refresh_token: rt })
            .await
            .unwrap_err()
    });
    assert_eq!(rt_dead.code(), Code::Unauthenticated);
    c.stop().unwrap();

    // A database password given in --database-url never reaches the logs.
    if let Some(url) = extra.iter().find(|a| a.starts_with("postgres://")) {
        let pw = url
            .split_once("://")
            .and_then(|(_, r)| r.split_once('@'))
            .and_then(|(c, _)| c.split_once(':'));
        if let Some((_, pw)) = pw {
            assert!(!c.logs().contains(pw), "the database password was logged");
        }
    }
}

/// Blocks until the wall clock passes `unix_ms`.
fn wait_past(unix_ms: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    if unix_ms >= now {
        std::thread::sleep(Duration::from_millis((unix_ms - now + 50) as u64));
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn register_login_whoami_logout_on_sqlite() {
    journey(&[]);
}

#[test]
fn register_login_whoami_logout_on_postgres() {
    let url = tokio_rt()
        .block_on(lattice_e2e::fresh_postgres_database())
        .unwrap();
    journey(&["--database-url", &url]);
}

#[test]
fn expired_access_token_is_refreshed_transparently() {
    let c = Controld::in_process(&["--access-token-ttl", "2s"]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    cli.register("ada@example.com", PW, &c.fingerprint);
    let s1 = cli.stored_session(&c.url()).unwrap();

    // The server refuses the access token once it has expired (JWT `exp`
    // is whole seconds and inclusive, hence the extra second)...
    wait_past(s1["access_expires_at"].as_i64().unwrap() + 1_000);
    let expired = tokio_rt().block_on(async {
        let mut req = tonic::Request::new(v1::Empty {});
        let bearer = format!("Bearer {}", s1["access_token"].as_str().unwrap());
        req.metadata_mut()
            .insert("authorization", bearer.parse().unwrap());
        AuthServiceClient::new(c.channel().await.unwrap())
            .who_am_i(req)
            .await
            .unwrap_err()
    });
    assert_eq!(expired.code(), Code::Unauthenticated);
    assert!(
        expired.message().contains("expired"),
        "{}",
        expired.message()
    );

    // ...but the user notices nothing: the CLI rotates the refresh token.
    let who = cli.run(&["whoami", "-o", "json"], None).ok().json();
    assert_eq!(who["email"], "ada@example.com");
    let s2 = cli.stored_session(&c.url()).unwrap();
    assert_ne!(s1["refresh_token"], s2["refresh_token"]);
    assert_ne!(s1["access_token"], s2["access_token"]);
}

#[test]
fn reusing_a_rotated_refresh_token_kills_the_session() {
    let c = Controld::in_process(&["--access-token-ttl", "2s"]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    cli.register("ada@example.com", PW, &c.fingerprint);
    let stolen = std::fs::read(cli.credentials_file()).unwrap();
    // With a 2s access token the CLI refreshes on this call: R1 → R2.
    cli.run(&["whoami"], None).ok();
    let rotated = std::fs::read(cli.credentials_file()).unwrap();
    assert_ne!(stolen, rotated);

    // An attacker replays the old copy: refused, and the session is ended.
    let thief = Cli::new(Some(&c.url()));
    std::fs::create_dir_all(&thief.config_dir).unwrap();
    std::fs::copy(
        cli.config_dir.join("config.json"),
        thief.config_dir.join("config.json"),
    )
    .unwrap();
    std::fs::write(thief.credentials_file(), &stolen).unwrap();
    let r = thief.run(&["whoami"], None).fails_with(4);
    assert!(r.stderr.contains("session was ended"), "{}", r.stderr);

    // The legitimate holder of R2 is signed out too.
    let r2 = cli.stored_session(&c.url()).unwrap();
    wait_past(r2["access_expires_at"].as_i64().unwrap() + 1_000);
    let r = cli.run(&["whoami"], None).fails_with(4);
    assert!(r.stderr.contains("lattice login"), "{}", r.stderr);
    // Signing in again works.
    cli.login("ada@example.com", PW).ok();
    cli.run(&["whoami"], None).ok();
}

#[test]
fn lockout_refuses_even_the_right_password_and_says_when() {
    let c =
        Controld::in_process(&["--lockout-threshold", "3", "--lockout-duration", "10m"]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    cli.register("ada@example.com", PW, &c.fingerprint);
    for i in 0..3 {
        let r = cli
            .login("ada@example.com", "wrong password, sorry")
            .fails_with(if i < 2 { 4 } else { 1 });
        assert!(
            r.stderr.contains("invalid email or password"),
            "{}",
            r.stderr
        );
    }
    let r = cli.login("ada@example.com", PW).fails_with(1);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    assert!(r.stderr.contains("try again after"), "{}", r.stderr);

    // An unknown email answers exactly like a known one: nothing leaks.
    let ghost = cli
        .login("ghost@example.com", "wrong password, sorry")
        .fails_with(4);
    let known = Cli::new(Some(&c.url()));
    known
        .run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    let real = known
        .login("other@example.com", "wrong password, sorry")
        .fails_with(4);
    assert_eq!(ghost.stderr, real.stderr);
}

#[test]
fn per_address_rate_limit_says_when_to_retry() {
    let c = Controld::in_process(&["--auth-rate-per-minute", "3"]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    cli.run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    let first = cli.login("a@example.com", "some password 1");
    assert_eq!(first.code, 4, "{}", first.stderr);
    let second = cli.login("b@example.com", "some password 2").fails_with(1);
    assert!(
        second
            .stderr
            .contains("too many sign-in attempts from your address"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("try again in"), "{}", second.stderr);
}

#[test]
fn a_changed_server_certificate_is_refused_with_how_to_retrust() {
    let mut first = Controld::start(&[]).unwrap();
    let cli = Cli::new(Some(&first.url()));
    cli.register("ada@example.com", PW, &first.fingerprint);
    let addr = first.addr.clone();
    first.stop().unwrap();

    // Another server (new CA) appears at the same address.
    let tmp = tempfile::tempdir().unwrap();
    let impostor = Controld::start_in(&tmp.path().join("other"), &addr, &[]).unwrap();
    assert_ne!(impostor.fingerprint, first.fingerprint);
    let r = cli.run(&["whoami"], None).fails_with(4);
    assert!(r.stderr.contains("CHANGED"), "{}", r.stderr);
    assert!(r.stderr.contains(&impostor.fingerprint), "{}", r.stderr);
    assert!(r.stderr.contains("lattice trust --replace"), "{}", r.stderr);
    // Plain `trust` does not silently replace the pin.
    cli.run(&["trust", "--yes"], None).fails_with(4);
    cli.run(
        &[
            "trust",
            "--replace",
            "--trust-fingerprint",
            &impostor.fingerprint,
        ],
        None,
    )
    .ok();
}

#[test]
fn unknown_server_without_a_terminal_names_the_flags() {
    let c = Controld::in_process(&[]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    let r = cli.login("ada@example.com", PW).fails_with(4);
    assert!(
        r.stderr.contains("--trust-fingerprint") && r.stderr.contains(&c.fingerprint),
        "{}",
        r.stderr
    );
    // A wrong expected fingerprint is refused.
    let r = cli
        .run(&["whoami", "--trust-fingerprint", "sha256:00"], None)
        .fails_with(4);
    assert!(r.stderr.contains("not trusting"), "{}", r.stderr);
    // No password source and no terminal: fails at once naming the flag.
    let started = std::time::Instant::now();
    let r = cli
        .run(&["login", "--email", "ada@example.com", "--yes"], None)
        .fails_with(2);
    assert!(r.stderr.contains("--password-stdin"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn unreachable_server_is_named() {
    let cli = Cli::new(Some("127.0.0.1:1"));
    let r = cli.run(&["whoami", "--yes"], None).fails_with(7);
    assert!(
        r.stderr
            .contains("cannot reach the Lattice server at https://127.0.0.1:1"),
        "{}",
        r.stderr
    );
    let r = Cli::new(None).run(&["whoami"], None).fails_with(2);
    assert!(r.stderr.contains("--server"), "{}", r.stderr);
    let r = Cli::new(Some("http://x"))
        .run(&["whoami"], None)
        .fails_with(2);
    assert!(r.stderr.contains("https://x"), "{}", r.stderr);
}

#[test]
fn invalid_input_is_refused_and_nothing_is_stored() {
    let c = Controld::in_process(&[]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    let r = cli
        .run(
            &[
                "register",
                "--email",
                "not-an-email",
                "--password-stdin",
                "--yes",
            ],
            Some(&format!("{PW}\n")),
        )
        .fails_with(2);
    assert!(r.stderr.contains("email must be"), "{}", r.stderr);
    let r = cli
        .run(
            &[
                "register",
                "--email",
                "ada@example.com",
                "--password-stdin",
                "--yes",
            ],
            Some("short\n"),
        )
        .fails_with(2);
    assert!(
        r.stderr.contains("password must be at least 12"),
        "{}",
        r.stderr
    );

    // The server applies the same rules to any client.
    let big = "x".repeat(10 * 1024 * 1024);
    let cases = [
        ("bad email", "nope".to_string(), PW.to_string(), "email"),
        (
            "short password",
            "ada@example.com".to_string(),
            "short".to_string(),
            "password",
        ),
        (
            "10 MB email",
            format!("{big}@example.com"),
            PW.to_string(),
            "email",
        ),
        (
            "10 MB password",
            "ada@example.com".to_string(),
            big.clone(),
            "password",
        ),
    ];
    tokio_rt().block_on(async {
        let mut client = AuthServiceClient::new(c.channel().await.unwrap())
            .max_encoding_message_size(32 * 1024 * 1024);
        for (what, email, password, field) in cases {
            let e = client
                .register(v1::RegisterRequest {
                    email,
                    password,
                    invite: String::new(),
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
            assert!(e.message().starts_with(field), "{what}: {}", e.message());
            assert!(
                e.message().len() < 200,
                "{what}: the message must not echo the input"
            );
        }
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(c.sqlite_url()).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM users",
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 0, "nothing may be stored after invalid input");
    });
}

#[test]
fn admins_are_granted_on_the_server_host() {
    let c = Controld::in_process(&[]).unwrap();
    let ada = Cli::new(Some(&c.url()));
    ada.register("ada@example.com", PW, &c.fingerprint);
    let bob = Cli::new(Some(&c.url()));
    bob.register("bob@example.com", PW, &c.fingerprint);
    let grant = |email: &str| {
        std::process::Command::new(lattice_e2e::bin("lattice-controld"))
            .args(["--data-dir"])
            .arg(&c.data_dir)
            .args(["admin", "grant", email])
            .output()
            .unwrap()
    };
    let out = grant("bob@example.com");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        bob.run(&["whoami", "-o", "json"], None).ok().json()["role"],
        "admin"
    );
    let out = grant("nobody@example.com");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no account with email nobody@example.com")
    );
}

#[test]
fn health_and_reflection_answer_over_tls_and_logs_are_json() {
    let c = Controld::start(&["--log-format", "json"]).unwrap();
    tokio_rt().block_on(async {
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut r = ServerReflectionClient::new(c.channel().await.unwrap());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = r
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected reflection answer")
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"lattice.v1.AuthService"), "{names:?}");
        assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    });
    for line in c.logs().lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
    }
    tokio_rt().block_on(async {
        let mut h = tonic_health::pb::health_client::HealthClient::new(c.channel().await.unwrap());
        let r = h
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    });
}

/// Seeds known canary secrets through every auth path, then searches every
/// byte controld (at debug level) and the CLI printed.
#[test]
fn no_password_hash_or_token_is_ever_printed_or_logged() {
    let c = Controld::start(&["--access-token-ttl", "2s", "--lockout-threshold", "2"]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    let canary = "canary-Pa55word-7f3a9c";
    let wrong = "canary-WRONG-pass-11d2";
    let short = "canShort1";
    cli.register("ada@example.com", canary, &c.fingerprint);
    let s1 = cli.stored_session(&c.url()).unwrap();
    cli.run(&["whoami"], None).ok(); // refresh (2s access tokens)
    let s2 = cli.stored_session(&c.url()).unwrap();
    cli.login("ada@example.com", wrong).fails_with(4);
    cli.run(
        &["register", "--email", "eve@example.com", "--password-stdin"],
        Some(&format!("{short}\n")),
    );
    cli.run(
        &["register", "--email", "ada@example.com", "--password-stdin"],
        Some(&format!("{canary}\n")),
    );
    cli.login("ada@example.com", canary).ok();
    let s3 = cli.stored_session(&c.url()).unwrap();
    cli.run(&["-o", "json", "whoami"], None).ok();
    cli.run(&["logout"], None).ok();

    let hash = tokio_rt().block_on(async {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(c.sqlite_url()).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT password_hash FROM users",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<String>("", "password_hash").unwrap()
    });
    let jwt_key = std::fs::read(c.data_dir.join("keys/jwt.key")).unwrap();
    let mut secrets = vec![
        (canary.to_string(), "password"),
        (wrong.to_string(), "wrong password"),
        (short.to_string(), "rejected password"),
        (hash.clone(), "password hash"),
        (hash.rsplit('$').next().unwrap().to_string(), "hash digest"),
        (String::from_utf8_lossy(&jwt_key).into_owned(), "jwt key"),
    ];
    for (i, s) in [s1, s2, s3].iter().enumerate() {
        for k in ["access_token", "refresh_token"] {
            let v = s[k].as_str().unwrap().to_string();
            let what = if k == "access_token" {
                "access token"
            } else {
                "refresh token"
            };
            let _ = i;
            // The JWT's signature part alone must not appear either.
            if let Some(sig) = v.rsplit('.').next().filter(|_| k == "access_token") {
                secrets.push((sig.to_string(), "access token signature"));
            }
            secrets.push((v, what));
        }
    }
    let logs = c.logs();
    assert!(
        logs.contains("signed in"),
        "controld logs should be captured: {logs}"
    );
    assert!(logs.contains("failed sign-in"), "{logs}");
    let found = leaked(&logs, &secrets);
    assert!(found.is_empty(), "controld logged: {found:?}");
    let found = leaked(&cli.transcript(), &secrets);
    assert!(found.is_empty(), "the CLI printed: {found:?}");
}

#[test]
fn operator_certificates_are_served_and_pinned() {
    // Make a CA-signed chain the way an operator would have one: here, from
    // a first controld's generated files.
    let first = Controld::in_process(&[]).unwrap();
    let tls = first.data_dir.join("tls");
    let chain = tls.with_file_name("chain.pem");
    let chain_pem = std::fs::read_to_string(tls.join("server.pem")).unwrap()
        + &std::fs::read_to_string(tls.join("ca.pem")).unwrap();
    std::fs::write(&chain, chain_pem).unwrap();
    let key = tls.join("server.key");
    let tmp = tempfile::tempdir().unwrap();
    let c = Controld::start_in(
        &tmp.path().join("control"),
        "127.0.0.1:0",
        &[
            "--tls-cert",
            chain.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(
        c.fingerprint, first.fingerprint,
        "the chain's CA is what clients pin"
    );
    let cli = Cli::new(Some(&c.url()));
    cli.register("ada@example.com", PW, &c.fingerprint);
    cli.run(&["whoami"], None).ok();
    // --ca-cert works instead of pinning.
    let other = Cli::new(Some(&c.url()));
    other
        .run(
            &[
                "--ca-cert",
                tls.join("ca.pem").to_str().unwrap(),
                "login",
                "--email",
                "ada@example.com",
                "--password-stdin",
            ],
            Some(&format!("{PW}\n")),
        )
        .ok();
}

#[test]
fn signing_in_again_ends_the_previous_session() {
    let c = Controld::in_process(&[]).unwrap();
    let cli = Cli::new(Some(&c.url()));
    cli.register("ada@example.com", PW, &c.fingerprint);
    let old = cli.stored_session(&c.url()).unwrap();
    cli.login("ada@example.com", PW).ok();
    let rt = old["refresh_token"].as_str().unwrap().to_string();
    let e = tokio_rt().block_on(async {
        AuthServiceClient::new(c.channel().await.unwrap())
            .refresh(v1::RefreshRequest { refresh_token: rt })
            .await
            .unwrap_err()
    });
    assert_eq!(e.code(), Code::Unauthenticated);
    cli.run(&["whoami"], None).ok();
}

/// With no server chosen, a mistake in the input itself is named first:
/// the newcomer learns what to fix, not that a server is missing.
#[test]
fn input_mistakes_are_named_before_a_missing_server() {
    let cli = Cli::new(None);
    for (args, says) in [
        (
            &["deploy", "foo", "bar"][..],
            "kind must be postgres, s3 (alias minio) or custom, got \"foo\"",
        ),
        (
            &["deploy", "custom", "x"],
            "image is required for custom workloads (--image",
        ),
        (
            &["deploy", "postgres", "db", "--port", "0"],
            "port must be from 1 to 65535",
        ),
        (
            &[
                "deploy", "custom", "x", "--image", "nginx", "--volume", "data",
            ],
            "volume",
        ),
        (&["nodes", "rm", "Bad_Name", "--yes"], "name must be"),
        (&["login", "--email", "nope"], "email must be an address"),
    ] {
        let r = cli.run(args, None).fails_with(2);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("no server chosen"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // A correct command still says what is missing.
    let r = cli.run(&["deploy", "postgres", "db"], None).fails_with(2);
    assert!(r.stderr.contains("no server chosen"), "{}", r.stderr);
}
