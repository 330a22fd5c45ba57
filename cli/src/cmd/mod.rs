//! What each command does. One module per command group.

pub mod access;
pub mod auth;
pub mod logs;
pub mod nodes;
pub mod tokens;
pub mod workloads;
