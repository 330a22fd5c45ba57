//! register, login, logout, whoami, trust.

use std::io::{BufRead, IsTerminal};

use lattice_proto::v1::{self, auth_service_client::AuthServiceClient};
use lattice_proto::validate;
use serde_json::json;

use crate::api::{self, Api, Ctx};
use crate::args::{CredentialsArgs, RegisterArgs, TrustArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339, when};
use crate::trust::{self, Consent};

fn role_name(r: i32) -> &'static str {
    match v1::Role::try_from(r) {
        Ok(v1::Role::Admin) => "admin",
        _ => "user",
    }
}

/// The rules a password must meet before it is sent (register: the
/// server's password rules, checked before asking twice).
type Rule = fn(&str) -> Result<(), validate::ValidationError>;

/// Reads a password without echo, from stdin with `--password-stdin`, or
/// fails at once naming the flag when there is no terminal to ask. On a
/// terminal a password that breaks `rule` is asked again, up to three times.
fn read_password(from_stdin: bool, rule: Rule, confirm: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            return Err(CliError::Usage("--password-stdin read an empty password".into()).into());
        }
        rule(&pw).map_err(CliError::from)?;
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "there is no terminal to ask for the password; pass --password-stdin and pipe it in, e.g. \
             `printf '%s\\n' \"$PASSWORD\" | lattice login --email ada@example.com --password-stdin`"
                .into(),
        )
        .into());
    }
    let mut tries = 0;
    let pw = loop {
        let pw = rpassword::prompt_password("Password: ")?;
        match rule(&pw) {
            Ok(()) => break pw,
            Err(e) if tries < 2 => {
                eprintln!("{e}; try again");
                tries += 1;
            }
            Err(e) => return Err(CliError::from(e).into()),
        }
    };
    if confirm && rpassword::prompt_password("Repeat password: ")? != pw {
        return Err(
            CliError::Usage("the passwords do not match; nothing was changed".into()).into(),
        );
    }
    Ok(pw)
}

fn email_arg(ctx: &Ctx, args: &CredentialsArgs, url: &str) -> anyhow::Result<String> {
    let raw = args
        .email
        .clone()
        .or_else(|| ctx.config.servers.get(url).and_then(|e| e.email.clone()))
        .ok_or_else(|| CliError::Usage("pass --email (or set LATTICE_EMAIL)".into()))?;
    validate::email(&raw).map_err(|e| CliError::from(e).into())
}

async fn sign_in(
    ctx: &mut Ctx,
    api: &mut Api,
    email: &str,
    password: String,
) -> anyhow::Result<v1::Session> {
    let previous = api.session().map(|s| s.refresh_token.clone());
    let s = AuthServiceClient::new(api.channel())
        .login(v1::LoginRequest {
            email: email.to_string(),
            password,
        })
        .await
        .map_err(|s| api.status(&s))?
        .into_inner();
    api.save_session(&s)?;
    if let Some(refresh_token) = previous {
        // The session this one replaces should not linger on the server.
        let _ = AuthServiceClient::new(api.channel())
            .logout(v1::LogoutRequest { refresh_token })
            .await;
    }
    ctx.config.current = Some(api.addr.url.clone());
    if let Some(e) = ctx.config.servers.get_mut(&api.addr.url) {
        e.email = Some(s.email.clone());
    }
    ctx.config.save(&ctx.dir)?;
    Ok(s)
}

fn session_json(api: &Api, s: &v1::Session) -> serde_json::Value {
    json!({
        "server": api.addr.url,
        "email": s.email,
        "role": role_name(s.role),
        "session_expires_at": s.refresh_expires_at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
    })
}

/// `lattice register`.
pub async fn register(mut ctx: Ctx, a: RegisterArgs) -> anyhow::Result<()> {
    let args = a.credentials;
    // A bad --email is said before a server is needed.
    if let Some(e) = &args.email {
        validate::email(e).map_err(CliError::from)?;
    }
    let addr = ctx.server()?;
    let email = email_arg(&ctx, &args, &addr.url)?;
    // Trust the server first (the prompt comes before the password's).
    let mut api = Api::connect(&mut ctx).await?;
    let password = read_password(args.password_stdin, validate::password, true)?;
    let reg = AuthServiceClient::new(api.channel())
        .register(v1::RegisterRequest {
            email: email.clone(),
            password: password.clone(),
            invite: a.invite.unwrap_or_default(),
        })
        .await
        .map_err(|s| api.status(&s))?
        .into_inner();
    let s = sign_in(&mut ctx, &mut api, &email, password).await?;
    output::emit(ctx.global.output, &session_json(&api, &s), || {
        output::line(format!(
            "Registered {} as {} on {} and signed in.",
            reg.email,
            role_name(reg.role),
            api.addr.url
        ))
    })
}

/// `lattice login`.
pub async fn login(mut ctx: Ctx, args: CredentialsArgs) -> anyhow::Result<()> {
    // A bad --email is said before a server is needed.
    if let Some(e) = &args.email {
        validate::email(e).map_err(CliError::from)?;
    }
    let addr = ctx.server()?;
    let email = email_arg(&ctx, &args, &addr.url)?;
    let mut api = Api::connect(&mut ctx).await?;
    let password = read_password(args.password_stdin, validate::login_password, false)?;
    let s = sign_in(&mut ctx, &mut api, &email, password).await?;
    output::emit(ctx.global.output, &session_json(&api, &s), || {
        output::line(format!(
            "Signed in to {} as {} ({}).",
            api.addr.url,
            s.email,
            role_name(s.role)
        ))
    })
}

/// `lattice logout`.
pub async fn logout(mut ctx: Ctx) -> anyhow::Result<()> {
    let mut api = Api::connect(&mut ctx).await?;
    let Some(s) = api.session().cloned() else {
        return output::emit(
            ctx.global.output,
            &json!({"server": api.addr.url, "signed_out": false}),
            || output::line(format!("Not signed in to {}.", api.addr.url)),
        );
    };
    let req = v1::LogoutRequest {
        refresh_token: s.refresh_token.clone(),
    };
    let revoked = api.logout(req).await;
    api.forget_session()?;
    if let Err(e) = &revoked {
        // The local copy is gone either way; say what the server still holds.
        eprintln!(
            "warning: the server could not end the session ({e:#}); it expires by itself {}",
            when(s.refresh_expires_at)
        );
    }
    output::emit(
        ctx.global.output,
        &json!({"server": api.addr.url, "signed_out": true, "revoked_on_server": revoked.is_ok()}),
        || output::line(format!("Signed out of {}.", api.addr.url)),
    )
}

/// `lattice whoami`.
pub async fn whoami(mut ctx: Ctx) -> anyhow::Result<()> {
    let mut api = Api::connect(&mut ctx).await?;
    let w = api.who_am_i(v1::Empty {}).await?;
    let session_exp = w.session_expires_at.as_ref().map(|t| t.unix_millis);
    let exp = w.expires_at.as_ref().map(|t| t.unix_millis);
    let scope = match v1::TokenScope::try_from(w.scope) {
        Ok(v1::TokenScope::Read) => Some("read"),
        Ok(v1::TokenScope::Deploy) => Some("deploy"),
        Ok(v1::TokenScope::Admin) => Some("admin"),
        _ => None,
    };
    let value = json!({
        "email": w.email,
        "user_id": w.user_id,
        "server": api.addr.url,
        "role": role_name(w.role),
        "auth": w.auth_kind,
        "scope": scope,
        "expires_at": exp.and_then(rfc3339),
        "session_expires_at": session_exp.and_then(rfc3339),
    });
    output::emit(ctx.global.output, &value, || {
        let mut rows = vec![
            ("email", w.email.clone()),
            ("server", api.addr.url.clone()),
            ("role", role_name(w.role).to_string()),
        ];
        if w.auth_kind == "api_token" {
            rows.push((
                "auth",
                format!("API token (scope {})", scope.unwrap_or("?")),
            ));
            rows.push(("expires", exp.map_or_else(|| "never".into(), when)));
        } else {
            rows.push((
                "session expires",
                session_exp.map_or_else(|| "-".into(), when),
            ));
        }
        output::key_values(&rows)
    })
}

/// `lattice trust`.
pub async fn trust(mut ctx: Ctx, args: TrustArgs) -> anyhow::Result<()> {
    let addr = ctx.server()?;
    let presented = trust::fetch(&addr).await?;
    let pinned = ctx
        .config
        .servers
        .get(&addr.url)
        .map(|e| e.fingerprint.clone());
    match pinned {
        Some(p) if p == presented.fingerprint => {}
        Some(p) if !args.replace => return Err(trust::changed(&addr, &p, &presented.fingerprint)),
        _ => {
            trust::confirm(
                &addr,
                &presented,
                &Consent {
                    expected: ctx.global.trust_fingerprint.as_deref(),
                    yes: ctx.global.yes,
                },
            )
            .map_err(|e| CliError::Auth(format!("{e:#}")))?;
            api::pin(&mut ctx, &addr, &presented)?;
        }
    }
    output::emit(
        ctx.global.output,
        &json!({"server": addr.url, "fingerprint": presented.fingerprint}),
        || {
            output::line(format!(
                "Trusting {} (certificate {}).",
                addr.url, presented.fingerprint
            ))
        },
    )
}

/// `lattice console`: the console is served by controld on the API's own
/// address, so its URL is the server's.
pub async fn console(mut ctx: Ctx) -> anyhow::Result<()> {
    let api = Api::connect(&mut ctx).await?;
    let url = format!("{}/", api.addr.url.trim_end_matches('/'));
    output::emit(ctx.global.output, &json!({ "url": url }), || {
        output::line(&url)?;
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            super::connect::browse(&url);
        }
        Ok(())
    })
}
