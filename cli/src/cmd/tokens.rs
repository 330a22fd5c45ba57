//! `lattice tokens create|ls|revoke`: long-lived, scoped API tokens for CI.

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{TokenScope, TokensAction, TokensArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339, when};

fn scope_name(s: i32) -> &'static str {
    match v1::TokenScope::try_from(s) {
        Ok(v1::TokenScope::Read) => "read",
        Ok(v1::TokenScope::Deploy) => "deploy",
        Ok(v1::TokenScope::Admin) => "admin",
        _ => "unknown",
    }
}

fn token_json(t: &v1::ApiToken) -> serde_json::Value {
    json!({
        "name": t.name,
        "scope": scope_name(t.scope),
        "created_at": t.created_at.as_ref().and_then(|x| rfc3339(x.unix_millis)),
        "expires_at": t.expires_at.as_ref().and_then(|x| rfc3339(x.unix_millis)),
        "last_used_at": t.last_used_at.as_ref().and_then(|x| rfc3339(x.unix_millis)),
    })
}

/// `lattice tokens …`.
pub async fn run(mut ctx: Ctx, a: TokensArgs) -> anyhow::Result<()> {
    let check = |name: &str| {
        lattice_proto::validate::name("name", name)
            .map_err(|e| anyhow::Error::new(CliError::from(e)))
    };
    match a.action {
        TokensAction::Create {
            name,
            scope,
            expires,
        } => {
            check(&name)?;
            let mut api = Api::connect(&mut ctx).await?;
            let req = v1::CreateApiTokenRequest {
                name,
                scope: match scope {
                    TokenScope::Read => v1::TokenScope::Read,
                    TokenScope::Deploy => v1::TokenScope::Deploy,
                    TokenScope::Admin => v1::TokenScope::Admin,
                } as i32,
                expires_in_seconds: expires
                    .map_or(0, |d| i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)),
            };
            let r = api.create_api_token(req).await?;
            let t = r.token.unwrap_or_default();
            let mut value = token_json(&t);
            value["token"] = json!(r.secret);
            output::emit(ctx.global.output, &value, || {
                output::line(&r.secret)?;
                eprintln!(
                    "Token {:?} (scope {}, expires {}). It is shown only now: store it as a secret, then use it with\n  LATTICE_TOKEN=<token> LATTICE_SERVER={} lattice …",
                    t.name,
                    scope_name(t.scope),
                    t.expires_at
                        .as_ref()
                        .map_or_else(|| "never".into(), |x| when(x.unix_millis)),
                    api.addr.url
                );
                Ok(())
            })
        }
        TokensAction::Ls => {
            let mut api = Api::connect(&mut ctx).await?;
            let r = api.list_api_tokens(v1::Empty {}).await?;
            let rows: Vec<_> = r.tokens.iter().map(token_json).collect();
            output::emit(ctx.global.output, &rows, || {
                if r.tokens.is_empty() {
                    return output::line(
                        "No API tokens. Create one with `lattice tokens create NAME --scope read|deploy|admin`.",
                    );
                }
                let mut t = output::table();
                t.set_header(vec!["NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED"]);
                for k in &r.tokens {
                    t.add_row(vec![
                        k.name.clone(),
                        scope_name(k.scope).to_string(),
                        k.created_at
                            .as_ref()
                            .map_or_else(String::new, |x| when(x.unix_millis)),
                        k.expires_at
                            .as_ref()
                            .map_or_else(|| "never".into(), |x| when(x.unix_millis)),
                        k.last_used_at
                            .as_ref()
                            .map_or_else(|| "never".into(), |x| when(x.unix_millis)),
                    ]);
                }
                output::line(t)
            })
        }
        TokensAction::Revoke { name } => {
            check(&name)?;
            if !ctx.global.yes {
                crate::confirm::ask(
                    &format!("Revoke API token {name:?}? Pipelines using it will stop working."),
                    "--yes",
                )?;
            }
            let mut api = Api::connect(&mut ctx).await?;
            let req = v1::RevokeApiTokenRequest { name: name.clone() };
            api.revoke_api_token(req).await?;
            output::emit(
                ctx.global.output,
                &json!({"name": name, "revoked": true}),
                || output::line(format!("Revoked {name}.")),
            )
        }
    }
}
