//! Removing a workload row for good, and the data volumes that outlive it:
//! a removal without purge records the volume (in the same transaction), so
//! `lattice volumes` can show, reattach or delete it.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use tracing::warn;

use super::Repo;
use super::edge_ports::release_ports;
use crate::clock;
use crate::entity::{edge_port, kept_volume, workload, workload_event, workload_version};
use crate::error::Result;
use crate::store::retry;

impl Repo {
    /// Removes a workload row for good (its name becomes free); its edge
    /// ports go into quarantine. With `keep_volume`, a workload that has a
    /// data volume leaves a record of it.
    pub async fn delete_workload(&self, id: &str, keep_volume: bool) -> Result<()> {
        let now = clock::now_ms();
        retry(|| async {
            let txn = self.db.begin().await?;
            let row = workload::Entity::find_by_id(id.to_string()).one(&txn).await?;
            if let Some(w) = &row {
                release_ports(&txn, id, &w.owner_id, now).await?;
                if keep_volume && crate::catalog::declares_volume(&w.spec) {
                    let clash = kept_volume::Entity::delete_many()
                        .filter(kept_volume::Column::OwnerId.eq(&w.owner_id))
                        .filter(kept_volume::Column::Name.eq(&w.name))
                        .filter(kept_volume::Column::Id.ne(&w.id))
                        .exec(&txn)
                        .await?;
                    if clash.rows_affected > 0 {
                        warn!(workload = %w.id, "replaced the record of an older kept volume of the same name");
                    }
                    kept_volume::Entity::delete_by_id(w.id.clone()).exec(&txn).await?;
                    kept_volume::ActiveModel {
                        id: Set(w.id.clone()),
                        owner_id: Set(w.owner_id.clone()),
                        name: Set(w.name.clone()),
                        kind: Set(w.kind),
                        image: Set(w.image.clone()),
                        node_id: Set(w.node_id.clone()),
                        credentials: Set(w.credentials.clone()),
                        created_at: Set(w.created_at),
                        kept_at: Set(now),
                    }
                    .insert(&txn)
                    .await?;
                }
            }
            edge_port::Entity::delete_many()
                .filter(edge_port::Column::WorkloadId.eq(id))
                .exec(&txn)
                .await?;
            workload_event::Entity::delete_many()
                .filter(workload_event::Column::WorkloadId.eq(id))
                .exec(&txn)
                .await?;
            workload_version::Entity::delete_many()
                .filter(workload_version::Column::WorkloadId.eq(id))
                .exec(&txn)
                .await?;
            workload::Entity::delete_by_id(id.to_string())
                .exec(&txn)
                .await?;
            txn.commit().await
        })
        .await?;
        Ok(())
    }

    /// The caller's kept volumes, by name.
    pub async fn kept_volumes_of(&self, owner: &str) -> Result<Vec<kept_volume::Model>> {
        Ok(retry(|| {
            kept_volume::Entity::find()
                .filter(kept_volume::Column::OwnerId.eq(owner))
                .order_by_asc(kept_volume::Column::Name)
                .all(&self.db)
        })
        .await?)
    }

    /// The caller's kept volume of a removed workload named `name`.
    pub async fn kept_volume(&self, owner: &str, name: &str) -> Result<Option<kept_volume::Model>> {
        Ok(retry(|| {
            kept_volume::Entity::find()
                .filter(kept_volume::Column::OwnerId.eq(owner))
                .filter(kept_volume::Column::Name.eq(name))
                .one(&self.db)
        })
        .await?)
    }

    /// Forgets a kept volume (removed from its node, or its node is gone).
    pub async fn delete_kept_volume(&self, id: &str) -> Result<()> {
        retry(|| kept_volume::Entity::delete_by_id(id.to_string()).exec(&self.db)).await?;
        Ok(())
    }
}
