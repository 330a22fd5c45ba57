//! Making a workload's container: its volume, then `create`. When the engine
//! lacks the image, pull it and create again — as `docker run` does, instead
//! of asking the engine for the image before every create that would find it.

use std::collections::HashMap;

use lattice_proto::v1::WorkloadStatus as S;

use super::{Attempt, Pass};
use crate::docker::CreateError;

/// Creates the container; `Some(pass)` when the attempt ends here (failed,
/// reported), `None` when the container exists and can be started.
pub(super) async fn make_container(a: &mut Attempt<'_>) -> Option<Pass> {
    a.ctx.forget_exits(&a.spec.workload_id);
    if !a.spec.volume_path.is_empty()
        && let Err(e) = a.rt.ensure_volume(a.spec, &a.ctx.node_id).await
    {
        return Some(a.rep.retrying(S::Starting, &e, a.retry));
    }
    match a.rt.create(&a.name, a.spec, &a.ctx.node_id).await {
        Ok(()) => return None,
        Err(CreateError::NoImage) => {}
        Err(e) => return Some(create_failed(a, &e)),
    }
    let image = &a.spec.image;
    a.rep.status(S::Pulling, &format!("pulling {image}"));
    let pulled =
        a.rt.pull(image, &|p| {
            a.rep.send(
                S::Pulling,
                &format!("pulling {image}"),
                HashMap::new(),
                Vec::new(),
                p,
                "",
            );
        })
        .await;
    if let Err(e) = pulled {
        return Some(fail(
            a,
            format!("image {image} is not on this node and could not be pulled: {e}"),
        ));
    }
    match a.rt.create(&a.name, a.spec, &a.ctx.node_id).await {
        Ok(()) => None,
        Err(e) => Some(create_failed(a, &e)),
    }
}

/// A create the engine refused: retried when it may heal, failed for good
/// when the request itself is wrong.
fn create_failed(a: &mut Attempt<'_>, e: &CreateError) -> Pass {
    let what = format!("could not create the container: {e}");
    match e {
        CreateError::Invalid(_) | CreateError::NoImage => fail(a, what),
        CreateError::Transient(_) => a.rep.retrying(S::Starting, &what, a.retry),
    }
}

/// Marks this spec failed (not retried until a new generation) and says why.
fn fail(a: &mut Attempt<'_>, why: String) -> Pass {
    *a.failed_hash = Some(a.spec.spec_hash.clone());
    a.rep.status(S::Failed, &why);
    Pass::Settled
}
