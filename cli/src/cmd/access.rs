//! `lattice access`: endpoints and credentials, owner only. The table hides
//! secrets unless asked; the script formats include them (that is what they
//! are for). The public endpoint (through controld's edge) comes first.

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{AccessArgs, AccessFormat, Output};
use crate::error::CliError;
use crate::output;
use crate::view::access::{AccessView, access_rows};
use crate::view::endpoint_json;

/// `lattice access NAME`.
pub async fn run(mut ctx: Ctx, a: AccessArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(CliError::from)?;
    if a.rotate && !ctx.global.yes {
        crate::confirm::ask(
            &format!(
                "Issue new credentials for {}? The old ones stop working at once (clients using them disconnect).",
                a.name
            ),
            "--yes",
        )?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    let acc = api
        .get_access(v1::GetAccessRequest {
            name: a.name.clone(),
            rotate: a.rotate,
        })
        .await?;
    let host = api.host().to_string();
    if a.rotate {
        eprintln!(
            "Issued new credentials for {}; the old ones no longer work.",
            a.name
        );
    }
    let view = AccessView::new(&acc, a.direct, &host);
    let need_endpoint = || {
        CliError::Other(format!(
            "{} has no endpoint yet (is it running? see `lattice status {}`)",
            a.name, a.name
        ))
    };
    let format = match (a.format, ctx.global.output) {
        (Some(f), _) => Some(f),
        (None, Output::Json) => Some(AccessFormat::Json),
        (None, Output::Table) => None,
    };
    match format {
        Some(AccessFormat::Url) => output::line(view.url(true).ok_or_else(need_endpoint)?),
        Some(AccessFormat::Endpoint) => {
            output::line(view.endpoint_form().ok_or_else(need_endpoint)?)
        }
        Some(AccessFormat::Env) => {
            if view.endpoint.is_none() {
                return Err(need_endpoint().into());
            }
            // `eval "$(lattice access NAME --format env)"` sets them in a shell.
            for (k, v) in view.env() {
                let quoted = shlex::try_quote(&v)
                    .map_err(|_| CliError::Other(format!("{k} holds a NUL byte")))?;
                output::line(format!("export {k}={quoted}"))?;
            }
            Ok(())
        }
        Some(AccessFormat::Json) => output::json(&json!({
            "name": acc.name,
            "kind": acc.kind,
            "endpoints": acc.endpoints.iter().map(|e| endpoint_json(e, &host)).collect::<Vec<_>>(),
            "credentials": view.creds,
            "url": view.url(true),
        })),
        None => output::key_values(&access_rows(&acc, a.show_secrets, &host)),
    }
}
