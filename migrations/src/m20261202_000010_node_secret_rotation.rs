//! A node secret's rotation: the new secret is stored (sealed, and as the
//! hash the agent is checked against) before the agent is given it, and
//! promoted once the agent has saved it. Until then both secrets work, so an
//! agent that saved the new one and crashed before saying so still gets in.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Nodes {
    Table,
    PendingSecretHash,
    PendingSecret,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for col in [Nodes::PendingSecretHash, Nodes::PendingSecret] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Nodes::Table)
                        .add_column(ColumnDef::new(col).text().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Nodes::PendingSecretHash, Nodes::PendingSecret] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Nodes::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
