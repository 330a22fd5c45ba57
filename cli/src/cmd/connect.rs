//! `lattice connect`: the right local client for a workload, signed in —
//! psql for Postgres, a shell (or the given command) with the AWS variables
//! for S3 — as `heroku pg:psql` does. Credentials travel in the client's
//! environment, never on its command line. `lattice open`: a workload's
//! public HTTP URL in a browser.

use std::process::Command;

use lattice_proto::state::Kind;
use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{ConnectArgs, NameArg};
use crate::error::CliError;
use crate::output;
use crate::view::access::AccessView;
use crate::view::endpoint_text;

/// The workload's endpoints and credentials, with the host the server was
/// reached at.
async fn access_of(ctx: &mut Ctx, name: &str) -> anyhow::Result<(v1::Access, String)> {
    lattice_proto::validate::name("name", name).map_err(CliError::from)?;
    let mut api = Api::connect(ctx).await?;
    let acc = api
        .get_access(v1::GetAccessRequest {
            name: name.to_string(),
            rotate: false,
        })
        .await?;
    Ok((acc, api.host().to_string()))
}

/// `lattice connect NAME [-- ARGS…]`.
pub async fn connect(mut ctx: Ctx, a: ConnectArgs) -> anyhow::Result<()> {
    let (acc, host) = access_of(&mut ctx, &a.name).await?;
    let kind = Kind::parse_alias(&acc.kind).unwrap_or(Kind::Custom);
    let mut cmd = match kind {
        Kind::Postgres => {
            let mut c = Command::new("psql");
            c.args(&a.args);
            c
        }
        Kind::S3 => match a.args.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            None => Command::new(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())),
        },
        Kind::Custom => {
            return Err(CliError::Usage(format!(
                "{} is a custom workload: Lattice knows no client for it; see `lattice access {}` \
                 (or `lattice open {}` for a web app)",
                a.name, a.name, a.name
            ))
            .into());
        }
    };
    let view = AccessView::new(&acc, a.direct, &host);
    if view.endpoint.is_none() {
        return Err(CliError::Other(format!(
            "{} has no endpoint yet (is it running? see `lattice status {}`)",
            a.name, a.name
        ))
        .into());
    }
    if kind == Kind::S3 && a.args.is_empty() {
        eprintln!(
            "A shell with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL set for {}; \
             try `aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls`. Exit to leave.",
            a.name
        );
    }
    let env = view.env();
    cmd.envs(env);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd.status().map_err(|e| {
        let hint = match program.as_str() {
            "psql" => " (install PostgreSQL's client: apt-get install postgresql-client)",
            "aws" => " (install the AWS CLI: apt-get install awscli)",
            _ => "",
        };
        CliError::Other(format!("could not run {program}: {e}{hint}"))
    })?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::Exited(u8::try_from(code).unwrap_or(1)).into()),
        None => Err(CliError::Exited(1).into()),
    }
}

/// `lattice open NAME`.
pub async fn open(mut ctx: Ctx, a: NameArg) -> anyhow::Result<()> {
    let (acc, host) = access_of(&mut ctx, &a.name).await?;
    let e = acc
        .endpoints
        .iter()
        .find(|e| e.via == "public" && e.scheme == "http")
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} has no public HTTP endpoint (its ports: {}); see `lattice access {}`",
                a.name,
                if acc.endpoints.is_empty() {
                    "none".to_string()
                } else {
                    acc.endpoints
                        .iter()
                        .map(|e| endpoint_text(e, &host))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                a.name
            ))
        })?;
    let url = format!("{}/", endpoint_text(e, &host));
    output::emit(ctx.global.output, &json!({ "url": url }), || {
        output::line(&url)?;
        browse(&url);
        Ok(())
    })
}

/// Opens `url` in the user's browser ($BROWSER first), best effort: a
/// server has none, and the URL is printed either way.
pub fn browse(url: &str) {
    if let Err(e) = webbrowser::open(url) {
        eprintln!("(no browser to open it in: {e})");
    }
}
