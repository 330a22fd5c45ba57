//! SeaORM entities, one per table. Times are Unix milliseconds.

pub mod api_token;
pub mod audit_log;
pub mod edge_port;
pub mod edge_port_release;
pub mod feedback;
pub mod invite;
pub mod join_token;
pub mod kept_volume;
pub mod login_throttle;
pub mod node;
pub mod refresh_token;
pub mod session;
pub mod user;
pub mod workload;
pub mod workload_event;
pub mod workload_version;
