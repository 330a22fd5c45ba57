//! `lattice invites create`, `users disable|enable`, `sessions ls|revoke`
//! and `passwd`: who may join, who may stay, and a user's own sign-ins.

use std::io::{BufRead, IsTerminal};

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{
    InvitesAction, InvitesArgs, PasswdArgs, SessionsAction, SessionsArgs, UsersAction, UsersArgs,
};
use crate::error::CliError;
use crate::output::{self, rfc3339, when};

/// `lattice invites …`.
pub async fn invites(mut ctx: Ctx, a: InvitesArgs) -> anyhow::Result<()> {
    let InvitesAction::Create { expires } = a.action;
    let mut api = Api::connect(&mut ctx).await?;
    let inv = api
        .create_invite(v1::CreateInviteRequest {
            expires_in_seconds: i64::try_from(expires.as_secs().max(1)).unwrap_or(i64::MAX),
        })
        .await?;
    let at = inv.expires_at.as_ref().map(|t| t.unix_millis);
    let value = json!({"code": inv.code, "expires_at": at.and_then(rfc3339)});
    output::emit(ctx.global.output, &value, || {
        output::line(&inv.code)?;
        eprintln!(
            "One-time invite, valid until {} and shown only now. The new user runs:\n  lattice --server {} register --email THEIR@EMAIL --invite {}",
            at.map_or_else(String::new, when),
            api.addr.url,
            inv.code
        );
        Ok(())
    })
}

/// `lattice users …`.
pub async fn users(mut ctx: Ctx, a: UsersArgs) -> anyhow::Result<()> {
    let (email, disabled) = match a.action {
        UsersAction::Disable { email } => (email, true),
        UsersAction::Enable { email } => (email, false),
    };
    let email = lattice_proto::validate::email(&email).map_err(CliError::from)?;
    if disabled && !ctx.global.yes {
        crate::confirm::ask(
            &format!("Disable {email}? Their sessions and API tokens end at once."),
            "--yes",
        )?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    api.set_disabled(v1::SetDisabledRequest {
        email: email.clone(),
        disabled,
    })
    .await?;
    output::emit(
        ctx.global.output,
        &json!({"email": email, "disabled": disabled}),
        || {
            output::line(if disabled {
                format!("Disabled {email}: their sessions and API tokens have ended.")
            } else {
                format!("Enabled {email}; they can sign in again.")
            })
        },
    )
}

/// `lattice sessions …`.
pub async fn sessions(mut ctx: Ctx, a: SessionsArgs) -> anyhow::Result<()> {
    let mut api = Api::connect(&mut ctx).await?;
    match a.action {
        SessionsAction::Ls => {
            let r = api.list_sessions(v1::Empty {}).await?;
            let ts = |t: &Option<v1::Timestamp>| t.as_ref().map(|t| t.unix_millis);
            let rows: Vec<_> = r
                .sessions
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id,
                        "current": s.current,
                        "created_at": ts(&s.created_at).and_then(rfc3339),
                        "expires_at": ts(&s.expires_at).and_then(rfc3339),
                    })
                })
                .collect();
            output::emit(ctx.global.output, &rows, || {
                let mut t = output::table();
                output::header(&mut t, &["ID", "SIGNED IN", "EXPIRES", ""]);
                for s in &r.sessions {
                    t.add_row(vec![
                        s.id.clone(),
                        ts(&s.created_at).map_or_else(String::new, when),
                        ts(&s.expires_at).map_or_else(String::new, when),
                        if s.current { "this one" } else { "" }.to_string(),
                    ]);
                }
                output::line(t)
            })
        }
        SessionsAction::Revoke { id } => {
            api.revoke_session(v1::RevokeSessionRequest {
                session_id: id.clone(),
            })
            .await?;
            output::emit(
                ctx.global.output,
                &json!({"id": id, "revoked": true}),
                || output::line(format!("Ended session {id}.")),
            )
        }
    }
}

/// Reads the current and the new password: two lines from stdin, or two
/// prompts (the new one twice) on a terminal.
fn passwords(from_stdin: bool) -> anyhow::Result<(String, String)> {
    if from_stdin {
        let mut lines = std::io::stdin().lock().lines();
        let mut next = || -> anyhow::Result<String> {
            let l = lines.next().transpose()?.unwrap_or_default();
            let l = l.trim_end_matches(['\n', '\r']).to_string();
            if l.is_empty() {
                return Err(CliError::Usage(
                    "--password-stdin needs two lines: the current password, then the new one"
                        .into(),
                )
                .into());
            }
            Ok(l)
        };
        return Ok((next()?, next()?));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "there is no terminal to ask for the passwords; pipe the current and the new one, one per line, with --password-stdin".into(),
        )
        .into());
    }
    let current = rpassword::prompt_password("Current password: ")?;
    let new = rpassword::prompt_password("New password: ")?;
    if rpassword::prompt_password("Repeat new password: ")? != new {
        return Err(
            CliError::Usage("the new passwords do not match; nothing was changed".into()).into(),
        );
    }
    Ok((current, new))
}

/// `lattice passwd`.
pub async fn passwd(mut ctx: Ctx, a: PasswdArgs) -> anyhow::Result<()> {
    let (current, new) = passwords(a.password_stdin)?;
    lattice_proto::validate::password(&new).map_err(CliError::from)?;
    let mut api = Api::connect(&mut ctx).await?;
    api.change_password(v1::ChangePasswordRequest {
        current_password: current,
        new_password: new,
    })
    .await?;
    output::emit(ctx.global.output, &json!({"changed": true}), || {
        output::line("Password changed; your other sessions have ended.")
    })
}
