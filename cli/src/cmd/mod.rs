//! What each command does. One module per command group.

pub mod auth;
