//! The web console in a real browser (headless Chromium over WebDriver):
//! sign up, log in, deploy from the form and watch it come up without a
//! reload, reveal credentials and connect with them, follow logs, stop,
//! another user's view, logout and CSRF. Screenshots of the main pages go to
//! `target/console-screenshots/`.

use std::process::Command;

use lattice_e2e::{Browser, Cli, Cluster, OtherComputer, PASSWORD, docker};

/// `curl` with the browser's session cookie and no CSRF token.
fn post_without_token(url: &str, session: &str) -> String {
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-b", &format!("lattice_session={session}")])
        .args(["-H", "content-type: application/x-www-form-urlencoded"])
        .args(["--data", "purge=true", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn get_with_cookie(url: &str, session: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .args(["-b", &format!("lattice_session={session}"), url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_user_signs_up_deploys_watches_connects_and_signs_out_in_a_browser() {
    let other = OtherComputer::new();
    let c = Cluster::reachable_from(&other);
    let base = c.controld.url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let b = Browser::start(&other).await;
        let go = |path: &str| format!("{base}{path}");

        // Sign up: a bad field is named next to it, then the dashboard.
        b.client.goto(&go("/signup")).await.expect("signup page");
        b.fill("email", "carol@example.com").await;
        b.fill("password", "short").await;
        b.click("button[type=submit]").await;
        let e = b.wait_text("#f-password-error", "at least 12", 10).await;
        assert!(e.contains("12"), "{e}");
        b.fill("email", "carol@example.com").await;
        b.fill("password", PASSWORD).await;
        b.shot("signup").await;
        b.click("button[type=submit]").await;
        b.wait_text("main", "Nothing deployed yet", 10).await;
        b.wait_text("#live", "Live", 10).await;
        b.shot("dashboard-empty").await;

        // Log out; a wrong password is a sentence on the page.
        let before_logout = b.cookie("lattice_session").await.expect("session cookie");
        b.click("header form button").await;
        b.wait_text("h1", "Log in", 10).await;
        assert_eq!(
            get_with_cookie(&go("/"), &before_logout).split(' ').next(),
            Some("303"),
            "the old cookie is refused after logout"
        );
        b.fill("email", "carol@example.com").await;
        b.fill("password", "not the password at all").await;
        b.click("button[type=submit]").await;
        b.wait_text(".banner", "invalid email or password", 10)
            .await;
        b.shot("login-error").await;
        b.fill("password", PASSWORD).await;
        b.click("button[type=submit]").await;
        b.wait_text("h1", "Workloads", 10).await;

        // The deploy form: a bad name is refused next to the field, nothing made.
        b.client
            .goto(&go("/deploy?kind=postgres"))
            .await
            .expect("deploy page");
        b.fill("name", "Bad_Name").await;
        b.click("button.primary").await;
        b.wait_text("#f-name-error", "a-z, 0-9", 10).await;
        b.shot("deploy-invalid").await;
        let carol = Cli::new(Some(&base));
        carol
            .run(
                &[
                    "login",
                    "--email",
                    "carol@example.com",
                    "--password-stdin",
                    "--trust-fingerprint",
                    &c.controld.fingerprint,
                ],
                Some(&format!("{PASSWORD}\n")),
            )
            .ok();
        let none = carol.run(&["ls", "-o", "json"], None).ok().json();
        assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");

        // Deploy Postgres from the form; `running` arrives without a reload.
        b.fill("name", "db").await;
        b.click("button.primary").await;
        b.wait_text("h1", "db", 10).await;
        assert_eq!(b.path().await, "/w/db");
        b.wait_text("#wl-status", "running", 180).await;
        b.shot("workload").await;

        // Reveal the credentials and connect with the copied line.
        b.click("#access button[type=submit]").await;
        let line = b.wait_text("#access pre", "psql", 10).await;
        b.shot("access").await;
        let url = line
            .trim()
            .strip_prefix("psql \"")
            .and_then(|s| s.strip_suffix('"'))
            .expect("a psql line")
            .to_string();
        let out = Command::new("psql")
            .args([&url, "-tAc", "select 40 + 2"])
            .output()
            .expect("psql");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "42",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Rotate from the page: the new line works, the old one no longer does.
        b.client
            .goto(&go("/w/db/rotate"))
            .await
            .expect("rotate page");
        b.click("form button.danger").await;
        let rotated = b.wait_text("#access pre", "psql", 30).await;
        let new_url = rotated
            .trim()
            .strip_prefix("psql \"")
            .and_then(|s| s.strip_suffix('"'))
            .expect("a psql line")
            .to_string();
        assert_ne!(new_url, url, "new credentials");
        // The container is recreated with them: back to running, live.
        b.wait_text("#wl-status", "running", 120).await;
        let psql = |u: &str| {
            Command::new("psql")
                .args([u, "-tAc", "select 1"])
                .output()
                .expect("psql")
        };
        let out = psql(&new_url);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !psql(&url).status.success(),
            "the old password stopped working"
        );

        // The dashboard shows it, and a stop shows `stopped` live.
        b.client.goto(&go("/")).await.expect("dashboard");
        b.wait_text("tr[data-name=db] .status-cell", "running", 10)
            .await;
        b.shot("dashboard").await;
        b.click("tr[data-name=db] form[action='/w/db/stop'] button")
            .await;
        b.wait_text("#wl-status", "stopped", 60).await;

        // Logs: a line written after the page opened appears in the tail.
        carol
            .deploy("custom", "ticker")
            .web()
            .wait()
            .sh("while true; do echo tick; sleep 2; done")
            .ok();
        b.client.goto(&go("/w/ticker")).await.expect("ticker page");
        b.wait_text("#logs", "tick", 30).await;
        let id = carol
            .run(&["status", "ticker", "-o", "json"], None)
            .ok()
            .json()["id"]
            .as_str()
            .expect("id")
            .to_string();
        let cid = c.containers_of(&id).pop().expect("container");
        docker(&[
            "exec",
            &cid,
            "sh",
            "-c",
            "echo written-after-the-page-opened > /proc/1/fd/1",
        ]);
        b.wait_text("#logs", "written-after-the-page-opened", 30)
            .await;
        b.shot("logs").await;

        // A form post without the CSRF token is refused, and changes nothing.
        let session = b.cookie("lattice_session").await.expect("session cookie");
        assert_eq!(post_without_token(&go("/w/db/delete"), &session), "403");
        let still = carol.run(&["status", "db", "-o", "json"], None).ok().json();
        assert_eq!(still["status"], "stopped", "{still}");

        // Nodes: a user sees the capacity, not the addresses.
        b.client.goto(&go("/nodes")).await.expect("nodes page");
        b.wait_text("main table", "ready", 10).await;
        assert!(
            !b.text("main table").await.contains("127.0.0.1"),
            "no address for users"
        );
        b.shot("nodes").await;

        // An API token: created with a scope, shown once with what CI sets, works, revoked.
        b.client.goto(&go("/tokens")).await.expect("tokens page");
        b.fill("name", "ci").await;
        b.click("form[action='/tokens'] button").await;
        let env = b.wait_text("#new-token pre", "LATTICE_TOKEN", 10).await;
        b.shot("tokens").await;
        let token = env
            .lines()
            .find_map(|l| l.strip_prefix("export LATTICE_TOKEN="))
            .expect("the token")
            .to_string();
        assert!(env.contains("LATTICE_TRUST_FINGERPRINT=sha256:"), "{env}");
        let ci = Cli::new(Some(&base)).with_env("LATTICE_TOKEN", &token);
        let listed = ci
            .run(
                &[
                    "ls",
                    "-o",
                    "json",
                    "--trust-fingerprint",
                    &c.controld.fingerprint,
                ],
                None,
            )
            .ok()
            .json();
        assert!(listed.to_string().contains("\"db\""), "{listed}");
        b.click("tr[data-name=ci] button").await;
        b.wait_text("main", "Create a token", 10).await;
        assert!(b.text("#tokens").await.is_empty(), "revoked");
        ci.run(
            &["ls", "--trust-fingerprint", &c.controld.fingerprint],
            None,
        )
        .fails_with_any();

        // Help, and feedback the admin reads.
        b.client.goto(&go("/help")).await.expect("help page");
        b.fill("message", "The console is nice").await;
        b.click("#feedback button").await;
        b.wait_text("#feedback", "Thank you", 10).await;
        b.shot("help").await;
        let fb = c
            .admin
            .run(&["feedback", "ls", "-o", "json"], None)
            .ok()
            .json();
        assert_eq!(fb[0]["message"], "The console is nice", "{fb}");
        assert_eq!(fb[0]["email"], "carol@example.com", "{fb}");

        // Another user sees none of it, and a not-found page for its URL.
        b.click("header form button").await;
        b.wait_text("h1", "Log in", 10).await;
        let _bob = c.user("bob@example.com");
        b.fill("email", "bob@example.com").await;
        b.fill("password", PASSWORD).await;
        b.click("button[type=submit]").await;
        b.wait_text("main", "Nothing deployed yet", 10).await;
        b.client.goto(&go("/w/db")).await.expect("carol's page");
        b.wait_text("h1", "Not found", 10).await;
        let _ = b.client.clone().close().await;
    });
}
