//! A node secret's rotation in the store: pending, then promoted.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Repo;
use crate::entity::node;
use crate::error::Result;
use crate::store::retry;

impl Repo {
    /// Stores a rotation's new secret beside the current one.
    pub async fn set_pending_node_secret(&self, id: &str, hash: &str, sealed: &str) -> Result<()> {
        retry(|| {
            node::Entity::update_many()
                .col_expr(node::Column::PendingSecretHash, Expr::value(hash))
                .col_expr(node::Column::PendingSecret, Expr::value(sealed))
                .filter(node::Column::Id.eq(id))
                .exec(&self.db)
        })
        .await?;
        self.node_view.invalidate();
        Ok(())
    }

    /// Makes the pending secret the node's only one (no-op without one).
    pub async fn promote_node_secret(&self, id: &str) -> Result<()> {
        retry(|| {
            node::Entity::update_many()
                .col_expr(
                    node::Column::SecretHash,
                    Expr::col(node::Column::PendingSecretHash),
                )
                .col_expr(
                    node::Column::PendingSecretHash,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    node::Column::PendingSecret,
                    Expr::value(Option::<String>::None),
                )
                .filter(node::Column::Id.eq(id))
                .filter(node::Column::PendingSecretHash.is_not_null())
                .exec(&self.db)
        })
        .await?;
        self.node_view.invalidate();
        Ok(())
    }
}
