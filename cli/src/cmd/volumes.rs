//! `lattice volumes ls|rm`: data volumes that outlived their workload
//! (`rm` without `--purge`), so kept data is never out of sight.

use lattice_proto::v1;
use serde_json::{Value, json};

use crate::api::{Api, Ctx};
use crate::args::{VolumesAction, VolumesArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339};

fn volume_json(v: &v1::Volume) -> Value {
    json!({
        "name": v.name,
        "kind": v.kind,
        "image": v.image,
        "node": v.node,
        "created_at": v.created_at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
        "kept_at": v.kept_at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
        "state": if v.state.is_empty() { "kept" } else { v.state.as_str() },
    })
}

/// `lattice volumes …`.
pub async fn run(mut ctx: Ctx, a: VolumesArgs) -> anyhow::Result<()> {
    match a.action.unwrap_or(VolumesAction::Ls) {
        VolumesAction::Ls => {
            let mut api = Api::connect(&mut ctx).await?;
            let r = api.list_volumes(v1::ListVolumesRequest {}).await?;
            if ctx.global.quiet {
                for v in &r.volumes {
                    output::line(&v.name)?;
                }
                return Ok(());
            }
            let rows: Vec<Value> = r.volumes.iter().map(volume_json).collect();
            output::emit(ctx.global.output, &rows, || {
                if r.volumes.is_empty() {
                    return output::line(
                        "No kept volumes: `lattice rm NAME` keeps a workload's data here until you remove it.",
                    );
                }
                let mut t = output::table();
                output::header(&mut t, &["NAME", "KIND", "NODE", "KEPT", "IMAGE"]);
                for v in &r.volumes {
                    t.add_row(vec![
                        v.name.clone(),
                        v.kind.clone(),
                        if v.node.is_empty() {
                            "(node removed)".into()
                        } else {
                            v.node.clone()
                        },
                        if v.state == "removing" {
                            "now (its container is being removed)".into()
                        } else {
                            v.kept_at
                                .as_ref()
                                .map_or_else(String::new, |t| output::ago(t.unix_millis) + " ago")
                        },
                        v.image.clone(),
                    ]);
                }
                output::line(t)?;
                output::line(
                    "Reattach one with `lattice deploy KIND NAME --reuse-volume`; delete it with `lattice volumes rm NAME`.",
                )
            })
        }
        VolumesAction::Rm { name, forget } => {
            lattice_proto::validate::name("name", &name).map_err(CliError::from)?;
            if !ctx.global.yes {
                let q = if forget {
                    format!(
                        "Forget the kept volume of {name}? Its data stays on its node, unreachable from Lattice."
                    )
                } else {
                    format!(
                        "Delete the kept volume of {name} and all its data? This cannot be undone."
                    )
                };
                crate::confirm::ask(&q, "--yes")?;
            }
            let mut api = Api::connect(&mut ctx).await?;
            let v = api
                .delete_volume(v1::DeleteVolumeRequest {
                    name: name.clone(),
                    forget,
                })
                .await?;
            if ctx.global.quiet {
                return output::line(&v.name);
            }
            let mut value = volume_json(&v);
            value["removed"] = json!(!forget);
            value["forgotten"] = json!(forget);
            output::emit(ctx.global.output, &value, || {
                output::line(if forget {
                    format!("Forgot the kept volume of {name}.")
                } else {
                    format!("Deleted the kept volume of {name}.")
                })
            })
        }
    }
}
