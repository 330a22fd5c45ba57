//! Failed-login counter per (email, client address): existing account or
//! not, so lockout reveals nothing; per address, so it cannot be turned on
//! a victim from elsewhere.
use sea_orm::entity::prelude::*;

/// `login_throttle` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_throttle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub email: String,
    /// The client address (IPv4), its /64 (IPv6), or "" when unknown.
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    pub failures: i32,
    pub window_started_at: i64,
    pub locked_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
