//! `lattice context ls|use|rm` (several servers) and man page generation.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::api::Ctx;
use crate::args::{ContextAction, ContextArgs};
use crate::error::CliError;
use crate::output;
use crate::server::ServerAddr;
use crate::token_store::TokenStore;

/// `lattice context …`.
pub fn run(mut ctx: Ctx, a: ContextArgs) -> anyhow::Result<()> {
    match a.action.unwrap_or(ContextAction::Ls) {
        ContextAction::Ls => {
            let rows: Vec<_> = ctx
                .config
                .servers
                .iter()
                .map(|(url, e)| {
                    json!({
                        "server": url,
                        "current": ctx.config.current.as_deref() == Some(url.as_str()),
                        "email": e.email,
                        "fingerprint": e.fingerprint,
                    })
                })
                .collect();
            if ctx.global.quiet {
                for url in ctx.config.servers.keys() {
                    output::line(url)?;
                }
                return Ok(());
            }
            output::emit(ctx.global.output, &rows, || {
                if rows.is_empty() {
                    return output::line(
                        "No servers yet: `lattice --server https://HOST:7443 login`.",
                    );
                }
                let mut t = output::table();
                output::header(&mut t, &["", "SERVER", "EMAIL", "CERTIFICATE"]);
                for (url, e) in &ctx.config.servers {
                    let mark = if ctx.config.current.as_deref() == Some(url.as_str()) {
                        "*"
                    } else {
                        ""
                    };
                    t.add_row(vec![
                        mark.to_string(),
                        url.clone(),
                        e.email.clone().unwrap_or_default(),
                        e.fingerprint.clone(),
                    ]);
                }
                output::line(t)
            })
        }
        ContextAction::Use { server } => {
            let url = ServerAddr::parse(&server)
                .map_err(|e| CliError::Usage(format!("{e:#}")))?
                .url;
            if !ctx.config.servers.contains_key(&url) {
                return Err(CliError::NotFound(format!(
                    "{url} is not a known server (see `lattice context ls`); sign in with `lattice --server {url} login`"
                ))
                .into());
            }
            ctx.config.current = Some(url.clone());
            ctx.config.save(&ctx.dir)?;
            output::emit(ctx.global.output, &json!({"current": url}), || {
                output::line(format!("Now using {url}."))
            })
        }
        ContextAction::Rm { server } => {
            let url = ServerAddr::parse(&server)
                .map_err(|e| CliError::Usage(format!("{e:#}")))?
                .url;
            if ctx.config.servers.remove(&url).is_none() {
                return Err(CliError::NotFound(format!(
                    "{url} is not a known server (see `lattice context ls`)"
                ))
                .into());
            }
            if ctx.config.current.as_deref() == Some(url.as_str()) {
                ctx.config.current = None;
            }
            TokenStore::open(&ctx.dir)?.delete(&url)?;
            ctx.config.save(&ctx.dir)?;
            output::emit(ctx.global.output, &json!({"removed": url}), || {
                output::line(format!("Forgot {url}: its pinned certificate and session."))
            })
        }
    }
}

/// Writes `lattice.1` and one page per subcommand into `dir`.
pub fn man(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let cmd = <crate::args::Cli as clap::CommandFactory>::command();
    clap_mangen::generate_to(cmd, dir)
        .with_context(|| format!("could not write man pages into {}", dir.display()))?;
    Ok(())
}
