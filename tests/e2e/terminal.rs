//! What a person at a terminal sees: `register` asks to trust the server
//! before it asks for the password, and checks the password's rules before
//! asking for it twice — driven on a real pseudo-terminal.

use std::process::Command;

use lattice_e2e::Cluster;

/// Drives `argv` on a pseudo-terminal: for each (wait for, then type) step,
/// reads until the text appears, then types the answer. Returns everything
/// the terminal showed, or fails naming the step that never came.
fn on_a_terminal(env: &[(&str, &str)], argv: &[&str], steps: &[(&str, &str)]) -> String {
    const DRIVER: &str = r#"
import json, os, pty, select, sys, time
argv, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen = b""
def read_until(text, secs=60):
    global seen
    deadline = time.time() + secs
    while text.encode() not in seen:
        left = deadline - time.time()
        if left <= 0:
            sys.stdout.write(seen.decode(errors="replace"))
            sys.exit("never saw %r" % text)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                sys.stdout.write(seen.decode(errors="replace"))
                sys.exit("ended before %r" % text)
            seen += chunk
for want, answer in steps:
    read_until(want)
    seen_at = len(seen)
    time.sleep(0.2)
    os.write(fd, (answer + "\n").encode())
try:
    while True:
        r, _, _ = select.select([fd], [], [], 30)
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let steps: Vec<[&str; 2]> = steps.iter().map(|(w, a)| [*w, *a]).collect();
    let out = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(serde_json::to_string(argv).expect("argv"))
        .arg(serde_json::to_string(&steps).expect("steps"))
        .envs(env.iter().copied())
        .env("TERM", "xterm")
        .output()
        .expect("python3");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    shown
}

#[test]
fn register_asks_trust_first_and_checks_the_password_before_asking_twice() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().display().to_string();
    let lattice = lattice_e2e::bin("lattice").display().to_string();
    let url = c.controld.url();
    let shown = on_a_terminal(
        &[
            ("LATTICE_CONFIG_DIR", &config),
            ("LATTICE_TOKEN_STORE", "file"),
        ],
        &[
            &lattice,
            "--server",
            &url,
            "register",
            "--email",
            "tty@example.com",
        ],
        &[
            ("Trust this server?", "y"),
            ("Password: ", "short"),
            ("try again", "correct horse battery staple"),
            ("Repeat password: ", "correct horse battery staple"),
        ],
    );
    let trust = shown.find("Trust this server?").expect("trust prompt");
    let password = shown.find("Password: ").expect("password prompt");
    assert!(trust < password, "the trust prompt comes first: {shown}");
    let rule = shown.find("must be at least").expect("the rule, at once");
    let repeat = shown.find("Repeat password").expect("repeat prompt");
    assert!(rule < repeat, "checked before asking twice: {shown}");
    assert!(shown.contains("Registered tty@example.com"), "{shown}");
    assert!(
        !shown.contains("short"),
        "passwords are not echoed: {shown}"
    );
}
