//! Confirmation of destructive actions: asked on a terminal, otherwise the
//! command fails at once naming the flag that confirms it.

use std::io::{IsTerminal, Write};

use crate::error::CliError;

/// Whether a person is there to answer.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question`; without a terminal fails naming `flag`.
pub fn ask(question: &str, flag: &str) -> anyhow::Result<()> {
    if !interactive() {
        return Err(CliError::Usage(format!(
            "{question} There is no terminal to confirm on: pass {flag}"
        ))
        .into());
    }
    let mut err = std::io::stderr();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Usage("cancelled; nothing was changed".into()).into())
    }
}
