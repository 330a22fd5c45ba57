//! `lattice exec NAME [-i] [-t] -- CMD…`: a command in a workload's
//! container, like `kubectl exec` or `fly ssh console`. Output arrives as it
//! is written (stderr to stderr), stdin is sent with -i, and with -t this
//! terminal goes raw — every key, Ctrl-C included, reaches the command — and
//! its size follows the window. The command's exit code is ours.

use std::io::{IsTerminal, Read, Write};

use lattice_proto::v1;
use lattice_proto::v1::exec_input::Input;
use lattice_proto::v1::exec_output::Output;
use tokio::sync::mpsc;

use crate::api::{Api, Ctx};
use crate::args::ExecArgs;
use crate::error::CliError;

/// Raw mode for as long as it lives, restored however we leave.
struct RawMode;

impl RawMode {
    fn enable() -> anyhow::Result<Self> {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| anyhow::anyhow!("could not put the terminal in raw mode: {e}"))?;
        Ok(Self)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn size() -> Option<v1::TerminalSize> {
    crossterm::terminal::size()
        .ok()
        .map(|(cols, rows)| v1::TerminalSize {
            rows: u32::from(rows),
            cols: u32::from(cols),
        })
}

fn input(i: Input) -> v1::ExecInput {
    v1::ExecInput { input: Some(i) }
}

/// Reads stdin on a thread of its own: a blocking read cannot be cancelled,
/// and a runtime task stuck in one would keep us alive after the command
/// has ended. The thread simply dies with the process.
fn pump_stdin(tx: mpsc::Sender<v1::ExecInput>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(input(Input::StdinEof(v1::Empty {})));
                    return;
                }
                Ok(n) => {
                    if tx
                        .blocking_send(input(Input::Stdin(buf[..n].to_vec())))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
}

/// Sends the window's new size whenever it changes.
fn pump_resizes(tx: mpsc::Sender<v1::ExecInput>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut winch = signal(SignalKind::window_change())?;
    tokio::spawn(async move {
        while winch.recv().await.is_some() {
            if let Some(s) = size()
                && tx.send(input(Input::Resize(s))).await.is_err()
            {
                return;
            }
        }
    });
    Ok(())
}

/// `lattice exec`.
pub async fn run(mut ctx: Ctx, a: ExecArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(CliError::from)?;
    if a.tty && !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "-t needs a terminal on stdin; drop -t to pipe input (-i) or to run without one".into(),
        )
        .into());
    }
    let timeout_seconds = match a.timeout {
        Some(d) if d.as_secs() == 0 => {
            return Err(CliError::Usage("--timeout must be at least 1s".into()).into());
        }
        Some(d) => u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
        None => 0,
    };
    let mut api = Api::connect(&mut ctx).await?;
    let (tx, rx) = mpsc::channel(16);
    let start = v1::ExecStart {
        name: a.name.clone(),
        command: a.command.clone(),
        tty: a.tty,
        stdin: a.interactive,
        size: if a.tty { size() } else { None },
        term: std::env::var("TERM").unwrap_or_default(),
        timeout_seconds,
    };
    tx.send(input(Input::Start(start))).await?;
    let mut out = api.exec(rx).await?;
    let raw = if a.tty {
        Some(RawMode::enable()?)
    } else {
        None
    };
    if a.interactive {
        pump_stdin(tx.clone());
    }
    if a.tty {
        pump_resizes(tx.clone())?;
    }
    let mut code = None;
    let ended = loop {
        match out.message().await {
            Ok(Some(v1::ExecOutput { output: Some(o) })) => match o {
                Output::Stdout(b) => {
                    let mut w = std::io::stdout().lock();
                    w.write_all(&b)?;
                    w.flush()?;
                }
                Output::Stderr(b) => {
                    let mut w = std::io::stderr().lock();
                    w.write_all(&b)?;
                    w.flush()?;
                }
                Output::ExitCode(c) => code = Some(c),
            },
            Ok(Some(_)) => {}
            Ok(None) => break Ok(()),
            Err(s) => break Err(api.status(&s)),
        }
    };
    drop(raw);
    ended?;
    match code {
        Some(0) => Ok(()),
        Some(c) => Err(CliError::Exited(u8::try_from(c).unwrap_or(1)).into()),
        None => Err(CliError::Other(format!(
            "the connection to {} ended before the command did",
            a.name
        ))
        .into()),
    }
}
