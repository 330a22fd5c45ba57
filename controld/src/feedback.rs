//! Feedback from users to the server's admins: stored as sent, bounded in
//! size and rate so nobody can fill the store through it.

use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use lattice_proto::ValidationError;

use crate::clock;
use crate::entity::feedback;
use crate::error::{Error, Result};
use crate::store::retry;

/// Longest message, in characters.
pub const MESSAGE_MAX: usize = 4000;
/// Most messages one account may send per hour.
pub const PER_HOUR: u64 = 10;

/// The feedback store.
#[derive(Clone)]
pub struct Feedback {
    db: DatabaseConnection,
}

/// What a message must be: some text, not too much.
pub fn check(message: &str) -> Result<&str> {
    let m = message.trim();
    if m.is_empty() {
        return Err(ValidationError::new("message", "write something first").into());
    }
    if m.chars().count() > MESSAGE_MAX {
        return Err(ValidationError::new(
            "message",
            format!("must be at most {MESSAGE_MAX} characters"),
        )
        .into());
    }
    Ok(m)
}

impl Feedback {
    /// Over a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a message from `user` (refused past [`PER_HOUR`]).
    pub async fn send(&self, user_id: &str, email: &str, message: &str) -> Result<()> {
        let message = check(message)?;
        let now = clock::now_ms();
        let recent = retry(|| {
            feedback::Entity::find()
                .filter(feedback::Column::UserId.eq(user_id))
                .filter(feedback::Column::CreatedAt.gt(now - 3_600_000))
                .count(&self.db)
        })
        .await?;
        if recent >= PER_HOUR {
            return Err(Error::Quota(format!(
                "you sent {recent} messages in the last hour, the most there can be; thank you — try again later"
            )));
        }
        let am = feedback::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            user_id: Set(user_id.to_string()),
            email: Set(email.to_string()),
            message: Set(message.to_string()),
            created_at: Set(now),
        };
        retry(|| am.clone().insert(&self.db)).await?;
        Ok(())
    }

    /// The newest `limit` messages.
    pub async fn list(&self, limit: u64) -> Result<Vec<feedback::Model>> {
        Ok(retry(|| {
            feedback::Entity::find()
                .order_by_desc(feedback::Column::CreatedAt)
                .limit(limit)
                .all(&self.db)
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_need_text_and_a_bound() {
        assert!(check("  ").is_err());
        assert_eq!(check(" hi ").unwrap(), "hi");
        assert!(check(&"x".repeat(MESSAGE_MAX)).is_ok());
        assert!(check(&"x".repeat(MESSAGE_MAX + 1)).is_err());
    }
}
