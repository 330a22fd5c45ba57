//! A command on a real pseudo-terminal (Python's `pty`), driven like a
//! person at a keyboard: wait for a text, then type. For prompts, raw-mode
//! programs and window resizes.

use std::process::Command;

/// The driver: starts `argv` on a 30×100 terminal; each step waits for its
/// text (empty: no wait; a match consumes the output up to it), then types
/// the action as is (`\r` is Enter, `\x03` Ctrl-C) or, for `resize R C`,
/// changes the window and signals the program as a terminal would.
const DRIVER: &str = r#"
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
    seen = seen[seen.index(text.encode()) + len(text.encode()):]
for want, action in steps:
    if want:
        read_until(want)
    time.sleep(0.2)
    if action.startswith("resize "):
        _, rows, cols = action.split()
        winsize(fd, int(rows), int(cols))
        os.kill(pid, signal.SIGWINCH)
    else:
        os.write(fd, action.encode())
    time.sleep(0.1)
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

/// Runs `cmd` (its program, arguments and environment; TERM defaults to
/// xterm) on a pseudo-terminal through `steps`. Returns its exit code and
/// everything the terminal showed; panics, with what it showed, when a step
/// never came.
pub fn on_a_terminal(cmd: &Command, steps: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut argv = vec![cmd.get_program().to_string_lossy().to_string()];
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().to_string()));
    let steps: Vec<[&str; 2]> = steps.iter().map(|(w, a)| [*w, *a]).collect();
    let mut py = Command::new("python3");
    py.arg("-c")
        .arg(DRIVER)
        .arg(serde_json::to_string(&argv).expect("argv"))
        .arg(serde_json::to_string(&steps).expect("steps"))
        .env("TERM", "xterm");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    let out = py.output().expect("python3");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !said.contains("never saw") && !said.contains("ended before"),
        "{said}\n{shown}"
    );
    (out.status.code(), shown)
}
