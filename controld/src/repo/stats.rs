//! Figures for metrics and readiness: counts by status in one query, and a
//! round trip that says whether the store answers.

use lattice_proto::state::Status;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QuerySelect, Statement};

use super::Repo;
use crate::entity::workload;
use crate::error::Result;
use crate::store::retry;

impl Repo {
    /// How many workloads are in each status (statuses with none are absent).
    pub async fn workload_counts(&self) -> Result<Vec<(Status, i64)>> {
        let rows = retry(|| {
            workload::Entity::find()
                .select_only()
                .column(workload::Column::Status)
                .column_as(workload::Column::Id.count(), "n")
                .group_by(workload::Column::Status)
                .into_tuple::<(Status, i64)>()
                .all(&self.db)
        })
        .await?;
        Ok(rows)
    }

    /// One round trip to the store, without retries: readiness wants to
    /// know whether it answers now.
    pub async fn ping(&self) -> Result<()> {
        let stmt = Statement::from_string(self.db.get_database_backend(), "SELECT 1");
        self.db.execute_raw(stmt).await?;
        Ok(())
    }
}
