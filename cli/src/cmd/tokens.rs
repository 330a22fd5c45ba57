//! `lattice tokens create|ls|revoke`: long-lived, scoped API tokens for CI.

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{TokenScope, TokensAction, TokensArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339};

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
            let fingerprint = ctx
                .config
                .servers
                .get(&api.addr.url)
                .map(|e| e.fingerprint.clone())
                .or_else(|| ctx.global.trust_fingerprint.clone())
                .unwrap_or_default();
            let mut value = token_json(&t);
            value["token"] = json!(r.secret);
            value["env"] = json!({
                "LATTICE_SERVER": api.addr.url,
                "LATTICE_TRUST_FINGERPRINT": fingerprint,
                "LATTICE_TOKEN": r.secret,
            });
            output::emit(ctx.global.output, &value, || {
                output::line(&r.secret)?;
                eprintln!(
                    "Token {:?} (scope {}, expires {}). It is shown only now: store these as your CI's secret variables:\n  \
                     LATTICE_SERVER={}\n  LATTICE_TRUST_FINGERPRINT={}\n  LATTICE_TOKEN=<the token above>",
                    t.name,
                    scope_name(t.scope),
                    t.expires_at
                        .as_ref()
                        .map_or_else(|| "never".into(), |x| output::date(x.unix_millis)),
                    api.addr.url,
                    fingerprint,
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
                output::header(
                    &mut t,
                    &["NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED"],
                );
                for k in &r.tokens {
                    t.add_row(vec![
                        k.name.clone(),
                        scope_name(k.scope).to_string(),
                        k.created_at
                            .as_ref()
                            .map_or_else(String::new, |x| output::date(x.unix_millis)),
                        k.expires_at
                            .as_ref()
                            .map_or_else(|| "never".into(), |x| output::date(x.unix_millis)),
                        k.last_used_at.as_ref().map_or_else(
                            || "never".into(),
                            |x| output::ago(x.unix_millis) + " ago",
                        ),
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
