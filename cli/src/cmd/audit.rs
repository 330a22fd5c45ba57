//! `lattice audit`: who did what, from where, and how it went. An admin
//! sees every account's entries; anyone else sees their own.

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::AuditArgs;
use crate::output::{self, rfc3339, when};

fn entry_json(e: &v1::AuditEntry) -> serde_json::Value {
    json!({
        "at": e.at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "source": e.source,
        "outcome": e.outcome,
        "detail": e.detail,
    })
}

/// `lattice audit`.
pub async fn run(mut ctx: Ctx, a: AuditArgs) -> anyhow::Result<()> {
    let mut api = Api::connect(&mut ctx).await?;
    let r = api
        .list_audit(v1::ListAuditRequest {
            limit: a.limit,
            action_prefix: a.action.unwrap_or_default(),
        })
        .await?;
    let rows: Vec<_> = r.entries.iter().map(entry_json).collect();
    output::emit(ctx.global.output, &rows, || {
        if r.entries.is_empty() {
            return output::line("No audit entries yet.");
        }
        let mut t = output::table();
        output::header(
            &mut t,
            &["WHEN", "ACTOR", "ACTION", "TARGET", "SOURCE", "OUTCOME"],
        );
        for e in &r.entries {
            let outcome = if e.detail.is_empty() {
                e.outcome.clone()
            } else {
                format!("{}: {}", e.outcome, e.detail)
            };
            t.add_row(vec![
                e.at.as_ref()
                    .map_or_else(String::new, |x| when(x.unix_millis)),
                e.actor.clone(),
                e.action.clone(),
                e.target.clone(),
                e.source.clone(),
                outcome,
            ]);
        }
        output::line(t)
    })
}
