//! The right message and the right exit code for scripts and people: CI
//! variables, `export` lines, `-q`, JSON argument errors, piped watches,
//! `--tail 0`, RFC 3339 `--since`, confirmations, several names, `connect`,
//! `open`, node faults named as such, token scopes and capacity numbers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use lattice_e2e::{Cli, Cluster, wait_for};

#[test]
fn pipelines_get_what_they_need_and_errors_they_can_parse() {
    let c = Cluster::start();
    let cli = &c.admin;
    // tokens create: the three variables a CI job needs, and they work.
    let t = cli
        .run(&["tokens", "create", "ci", "-o", "json"], None)
        .ok()
        .json();
    let env = &t["env"];
    assert_eq!(env["LATTICE_SERVER"], c.controld.url().as_str());
    assert_eq!(
        env["LATTICE_TRUST_FINGERPRINT"],
        c.controld.fingerprint.as_str()
    );
    assert_eq!(env["LATTICE_TOKEN"], t["token"]);
    let human = cli.run(&["tokens", "create", "ci2"], None).ok();
    assert!(
        human.stderr.contains("LATTICE_TRUST_FINGERPRINT=sha256:"),
        "{}",
        human.stderr
    );
    let ci = Cli::new(None)
        .with_env(
            "LATTICE_SERVER",
            env["LATTICE_SERVER"].as_str().unwrap_or(""),
        )
        .with_env(
            "LATTICE_TRUST_FINGERPRINT",
            env["LATTICE_TRUST_FINGERPRINT"].as_str().unwrap_or(""),
        )
        .with_env("LATTICE_TOKEN", env["LATTICE_TOKEN"].as_str().unwrap_or(""));
    ci.run(&["ls"], None).ok();

    // -q names workloads on every command that names them.
    let q = cli
        .deploy("custom", "a")
        .web()
        .port(80)
        .wait()
        .flags(&["-q"])
        .ok();
    assert_eq!(q.stdout.trim(), "a");
    cli.deploy("custom", "b").web().port(80).wait().ok();
    assert_eq!(
        cli.run(&["status", "a", "-q"], None).ok().stdout.trim(),
        "a"
    );
    let stopped = cli.run(&["stop", "a", "b", "--wait", "-q"], None).ok();
    assert_eq!(stopped.stdout.trim(), "a\nb");
    // Several names, one of them wrong: the others still happen, the exit
    // code is the failure's.
    let r = cli
        .run(&["start", "a", "nope", "b", "--wait"], None)
        .fails_with(3);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    let ls = cli.run(&["ls", "-o", "json"], None).ok().json();
    assert!(
        ls.as_array()
            .is_some_and(|v| v.iter().all(|w| w["status"] == "running")),
        "{ls}"
    );
    let several = cli
        .run(&["restart", "a", "b", "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(several.as_array().map(Vec::len), Some(2), "{several}");

    // Argument errors under -o json are JSON.
    for args in [
        &["-o", "json", "deploy"][..],
        &["deploy", "--output=json", "custom"][..],
        &["ls", "--bogus", "-o", "json"][..],
    ] {
        let r = cli.run(args, None).fails_with(2);
        let v: serde_json::Value = serde_json::from_str(r.stderr.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", r.stderr));
        assert_eq!(v["error"]["kind"], "usage");
        assert_eq!(v["error"]["exit_code"], 2);
    }
    assert!(
        !cli.run(&["ls", "--bogus"], None)
            .fails_with(2)
            .stderr
            .starts_with('{')
    );
    assert_eq!(cli.run(&["--help"], None).ok().code, 0);

    // --rotate on no terminal needs --yes.
    let r = cli.run(&["access", "a", "--rotate"], None).fails_with(2);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);

    // --tail 0 prints nothing; --since takes RFC 3339 as well.
    cli.deploy_sh("talk", &[], "while true; do echo line; sleep 0.2; done");
    wait_for(Duration::from_secs(20), || {
        (!cli
            .run(&["logs", "talk", "--tail", "1"], None)
            .ok()
            .stdout
            .is_empty())
        .then_some(())
    })
    .expect("talk logs");
    assert_eq!(
        cli.run(&["logs", "talk", "--tail", "0"], None).ok().stdout,
        ""
    );
    let future = (chrono_like_now_plus_hours(1)).to_string();
    let none = cli.run(&["logs", "talk", "--since", &future], None).ok();
    assert_eq!(none.stdout, "", "nothing after an hour from now");
    let past = cli
        .run(&["logs", "talk", "--since", "2020-01-01T00:00:00Z"], None)
        .ok();
    assert!(past.stdout.contains("line"), "{}", past.stdout);
    let r = cli
        .run(&["logs", "talk", "--since", "yesterday"], None)
        .fails_with(2);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);

    // ls --watch piped without -o json stays text.
    let mut watch = cli
        .command(&["ls", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let out = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("a line");
    assert!(first.starts_with("NAME"), "{first}");
    let row = rx.recv_timeout(Duration::from_secs(20)).expect("a row");
    assert!(!row.starts_with('{') && row.contains("running"), "{row}");
    let _ = watch.kill();
    let _ = watch.wait();
}

/// RFC 3339 of now + `h` hours, through `date` (no chrono in the tests).
fn chrono_like_now_plus_hours(h: u32) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("+{h} hour"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn connect_open_and_env_lines_work_as_printed() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().ok();
    let r = cli
        .run(&["connect", "db", "--", "-tAc", "select 40 + 2"], None)
        .ok();
    assert_eq!(r.stdout.trim(), "42");
    let r = cli.run(&["connect", "db", "--", "-c", "select nonsense"], None);
    assert_ne!(r.code, 0, "psql's own failure is the exit code");
    // `eval "$(lattice access db --format env)"` works in a shell.
    let env = cli.run(&["access", "db", "--format", "env"], None).ok();
    assert!(
        env.stdout.lines().all(|l| l.starts_with("export ")),
        "{}",
        env.stdout
    );
    let sh = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{}\npsql \"$DATABASE_URL\" -tAc 'select 7'",
            env.stdout
        ))
        .output()
        .expect("bash");
    assert_eq!(String::from_utf8_lossy(&sh.stdout).trim(), "7");
    // The connect line in the table runs as pasted (no literal ***).
    let table = cli.run(&["access", "db"], None).ok();
    let line = table
        .stdout
        .lines()
        .find(|l| l.contains("psql"))
        .expect("connect line");
    assert!(!line.contains("***"), "{line}");
    assert!(line.contains("$(lattice access db --format url)"), "{line}");
    let deploy_out = cli.deploy("custom", "quiet").web().ok();
    assert!(
        deploy_out.stdout.contains("no port"),
        "{}",
        deploy_out.stdout
    );

    // S3: the command runs with the AWS variables set.
    cli.deploy("s3", "media").wait().ok();
    let r = cli
        .run(
            &[
                "connect",
                "media",
                "--",
                "sh",
                "-c",
                "echo $AWS_ENDPOINT_URL; test -n \"$AWS_SECRET_ACCESS_KEY\"",
            ],
            None,
        )
        .ok();
    assert!(r.stdout.trim().starts_with("http://"), "{}", r.stdout);
    let r = cli
        .run(
            &["connect", "media", "--", "sh", "-c", "aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 mb s3://bucket1 && aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls"],
            None,
        )
        .ok();
    assert!(r.stdout.contains("bucket1"), "{}", r.stdout);
    let r = cli.run(&["connect", "quiet"], None).fails_with(2);
    assert!(r.stderr.contains("custom workload"), "{}", r.stderr);

    // open: the public URL, handed to $BROWSER.
    cli.deploy_web("site");
    let dir = tempfile::tempdir().expect("tmp");
    let seen = dir.path().join("seen");
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > {}\n", seen.display()),
    )
    .expect("script");
    Command::new("chmod")
        .arg("+x")
        .arg(&browser)
        .status()
        .expect("chmod");
    let opener = cli
        .clone()
        .with_env("BROWSER", &browser.display().to_string());
    let r = opener.run(&["open", "site"], None).ok();
    let url = r.stdout.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // The script's `>` creates the file before `echo` fills it: wait for
    // the whole line, not the file.
    let got = wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&seen)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .expect("the browser was started");
    assert_eq!(got.trim(), url);
    let r = cli.run(&["open", "db"], None).fails_with(2);
    assert!(r.stderr.contains("no public HTTP endpoint"), "{}", r.stderr);
}

#[test]
fn faults_name_the_part_at_fault() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy_web("web");
    // A token lacking a scope says so.
    let t = cli
        .run(
            &["tokens", "create", "d", "--scope", "deploy", "-o", "json"],
            None,
        )
        .ok()
        .json();
    let ci = Cli::new(None)
        .with_env("LATTICE_SERVER", &c.controld.url())
        .with_env("LATTICE_TRUST_FINGERPRINT", &c.controld.fingerprint)
        .with_env("LATTICE_TOKEN", t["token"].as_str().unwrap_or(""));
    let r = ci.run(&["nodes", "join-token"], None).fails_with(4);
    assert!(
        r.stderr.contains("this API token has scope"),
        "{}",
        r.stderr
    );
    // doctor: all good.
    let d = cli.run(&["doctor", "-o", "json"], None).ok().json();
    assert_eq!(d["ok"], true, "{d}");
    // The node goes away: its faults are the node's (exit 9), doctor says
    // to restart the agent and shows no ✓ for Docker.
    c.agent.stop();
    wait_for(Duration::from_secs(30), || {
        let n = cli.run(&["nodes", "-o", "json"], None).ok().json();
        (n[0]["status"] == "unreachable").then_some(())
    })
    .expect("the node is unreachable");
    let r = cli.run(&["logs", "web"], None).fails_with(9);
    assert!(!r.stderr.contains("Lattice server"), "{}", r.stderr);
    assert!(r.stderr.contains("node"), "{}", r.stderr);
    let r = cli.run(&["doctor"], None).fails_with(1);
    assert!(r.stdout.contains("restart lattice-agentd"), "{}", r.stdout);
    assert!(!r.stdout.contains("join-token"), "{}", r.stdout);
    let docker_line = r
        .stdout
        .lines()
        .find(|l| l.contains("docker"))
        .expect("a docker line");
    assert!(!docker_line.contains('✓'), "{docker_line}");
    c.agent.restart();
}
