//! `lattice exec`: output and exit codes come back, stdin goes in, a time
//! limit stops (and kills) a command, only the owner may run one, nothing of
//! the command reaches a log, and `-it` is a real terminal: raw keys, Ctrl-C
//! to the remote, the window's size, the shell's exit code.

use std::process::Command;
use std::time::Duration;

use lattice_e2e::{Cluster, docker, wait_for};

/// A pseudo-terminal of 30×100 running `argv`; each step waits for a text,
/// then types (`\x03` is Ctrl-C); `resize` steps change the window (and
/// signal the CLI as a terminal would). Prints all it saw and exits with the
/// CLI's code.
const PTY_DRIVER: &str = r#"
import fcntl, json, os, pty, select, signal, struct, sys, termios, time
argv, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    winsize(0, 30, 100)
    os.execvp(argv[0], argv)
seen, log = b"", b""
def read_until(text, secs=60):
    global seen, log
    deadline = time.time() + secs
    while text.encode() not in seen:
        left = deadline - time.time()
        if left <= 0:
            sys.stdout.write(log.decode(errors="replace"))
            sys.exit("never saw %r" % text)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                sys.stdout.write(log.decode(errors="replace"))
                sys.exit("ended before %r" % text)
            seen += chunk
            log += chunk
for want, action in steps:
    read_until(want)
    seen = b"" if want else seen
    if action.startswith("resize "):
        _, rows, cols = action.split()
        winsize(fd, int(rows), int(cols))
        os.kill(pid, signal.SIGWINCH)
    else:
        os.write(fd, action.encode())
    time.sleep(0.3)
try:
    while True:
        r, _, _ = select.select([fd], [], [], 30)
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        log += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(log.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[test]
fn exec_runs_commands_with_their_output_input_limits_and_owner() {
    let c = Cluster::processes();
    let cli = &c.admin;
    cli.deploy_web("web");

    let r = cli.run(
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(r.code, 3, "the command's exit code is ours: {r:?}");
    assert_eq!(r.stdout, "out\n");
    assert!(r.stderr.contains("err"), "stderr stays stderr: {r:?}");

    // stdin goes in, and its end arrives (wc would wait forever otherwise).
    let r = cli
        .run(
            &["exec", "-i", "web", "--", "wc", "-c"],
            Some("hello, lattice\n"),
        )
        .ok();
    assert_eq!(r.stdout.trim(), "15");
    // Large input and output stream through without loss.
    let big = "x".repeat(3 * 1024 * 1024);
    let r = cli
        .run(
            &["exec", "-i", "web", "--", "sh", "-c", "cat | sha256sum"],
            Some(&big),
        )
        .ok();
    let want = Command::new("sh")
        .args(["-c", "head -c 3145728 /dev/zero | tr '\\0' x | sha256sum"])
        .output()
        .expect("sha256sum");
    assert_eq!(r.stdout, String::from_utf8_lossy(&want.stdout));

    // A time limit stops the command — in the container too.
    let r = cli
        .run(
            &["exec", "--timeout", "1s", "web", "--", "sleep", "4242"],
            None,
        )
        .fails_with_any();
    assert!(r.stderr.contains("did not finish within 1s"), "{r:?}");
    let name = format!(
        "lattice-{}",
        cli.run(&["status", "web", "-o", "json"], None).ok().json()["id"]
            .as_str()
            .expect("id")
    );
    let gone = wait_for(Duration::from_secs(10), || {
        (!docker(&["top", &name]).contains("4242")).then_some(())
    });
    assert!(
        gone.is_some(),
        "the command still runs:\n{}",
        docker(&["top", &name])
    );

    // No command, a stopped workload, another user's workload: clear refusals.
    let r = cli.run(&["exec", "web"], None).fails_with(2);
    assert!(
        r.stderr.contains("--") || r.stderr.contains("COMMAND"),
        "{r:?}"
    );
    let eve = c.user("eve@example.com");
    let r = eve
        .run(&["exec", "web", "--", "true"], None)
        .fails_with_any();
    assert!(r.stderr.contains("no workload named"), "{r:?}");
    cli.run(&["stop", "web", "--wait"], None).ok();
    let r = cli
        .run(&["exec", "web", "--", "true"], None)
        .fails_with_any();
    assert!(r.stderr.contains("web is stopped"), "{r:?}");
    cli.run(&["start", "web", "--wait"], None).ok();

    // Audited without the command, which may hold secrets; in no log either.
    cli.run(&["exec", "web", "--", "echo", "hunter2-exec-secret"], None)
        .ok();
    let audit = cli.run(&["audit", "-o", "json"], None).ok().stdout;
    assert!(audit.contains("\"exec\""), "{audit}");
    for text in [audit, c.controld.logs(), c.agent.logs()] {
        assert!(!text.contains("hunter2-exec-secret"));
    }
}

#[test]
fn exec_it_is_a_real_terminal() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_web("web");
    let cmd = cli.command(&["exec", "-it", "web", "--", "sh"]);
    let mut argv = vec![cmd.get_program().to_string_lossy().to_string()];
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().to_string()));
    let env: Vec<_> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let steps: Vec<[&str; 2]> = vec![
        ["# ", "stty size; echo term=$TERM; tty\r"],
        ["/dev/pts/", "sleep 4242\r"],
        ["", "\x03"],
        // The shell survives Ctrl-C (its sleep does not) and gives a prompt.
        ["# ", "resize 40 120"],
        ["", "stty size\r"],
        ["40 120", "exit 7\r"],
    ];
    let out = Command::new("python3")
        .arg("-c")
        .arg(PTY_DRIVER)
        .arg(serde_json::to_string(&argv).expect("argv"))
        .arg(serde_json::to_string(&steps).expect("steps"))
        .env_clear()
        .envs(env)
        .env("TERM", "xterm-256color")
        .output()
        .expect("python3");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("30 100"), "the window's size: {shown}");
    assert!(shown.contains("term=xterm-256color"), "{shown}");
    assert!(
        shown.contains("^C"),
        "Ctrl-C reached the remote terminal: {shown}"
    );
}
