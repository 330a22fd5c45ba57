//! Removing a data volume its workload left behind (`lattice volumes rm`).
//! Never the volume of a workload this node still runs: a stale or forged
//! request cannot take data from under a live container.

use crate::Ctx;
use crate::docker::volume_name;
use crate::supervisor::Supervisor;

/// Removes workload `workload_id`'s kept volume (gone is success).
pub async fn remove(ctx: &Ctx, sup: &Supervisor, workload_id: &str) -> Result<(), String> {
    // Docker names are built from it: only an id controld could have made.
    let well_formed = workload_id.len() == 36
        && workload_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-');
    if !well_formed {
        return Err("not a workload id".into());
    }
    if sup.has(workload_id) {
        return Err("this node still runs that workload; remove the workload first".into());
    }
    let rt = ctx
        .runtime()
        .await
        .ok_or_else(|| "Docker is unavailable on this node".to_string())?;
    if crate::owned::find(rt.as_ref(), workload_id, &ctx.node_id)
        .await?
        .is_some()
    {
        return Err(
            "a container of that workload still exists on this node; try again once it is removed"
                .into(),
        );
    }
    rt.remove_volume(&volume_name(workload_id)).await
}
