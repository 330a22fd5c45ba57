//! `lattice feedback send|ls`: a word to the server's admins, and what
//! users sent (admins).

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{FeedbackAction, FeedbackArgs};
use crate::output::{self, rfc3339, when};

/// `lattice feedback`.
pub async fn run(mut ctx: Ctx, a: FeedbackArgs) -> anyhow::Result<()> {
    let mut api = Api::connect(&mut ctx).await?;
    match a.action {
        FeedbackAction::Send { message } => {
            let message = message.join(" ");
            api.send_feedback(v1::SendFeedbackRequest { message })
                .await?;
            output::emit(ctx.global.output, &json!({ "sent": true }), || {
                output::line("Sent to the server's admins. Thank you.")
            })
        }
        FeedbackAction::Ls { limit } => {
            let r = api.list_feedback(v1::ListFeedbackRequest { limit }).await?;
            let rows: Vec<_> = r
                .entries
                .iter()
                .map(|e| {
                    json!({
                        "at": e.at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
                        "email": e.email,
                        "message": e.message,
                    })
                })
                .collect();
            output::emit(ctx.global.output, &rows, || {
                if r.entries.is_empty() {
                    return output::line("No feedback yet.");
                }
                let mut t = output::table();
                output::header(&mut t, &["WHEN", "FROM", "MESSAGE"]);
                for e in &r.entries {
                    t.add_row(vec![
                        e.at.as_ref()
                            .map_or_else(String::new, |x| when(x.unix_millis)),
                        e.email.clone(),
                        e.message.clone(),
                    ]);
                }
                output::line(t)
            })
        }
    }
}
