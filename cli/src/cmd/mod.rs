//! What each command does. One module per command group.

pub mod access;
pub mod account;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod connect;
pub mod context;
pub mod doctor;
pub mod exec;
pub mod feedback;
pub mod logs;
pub mod nodes;
pub mod tokens;
pub mod versions;
pub mod volumes;
pub mod watch;
pub mod workloads;
