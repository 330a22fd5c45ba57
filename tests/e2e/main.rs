//! End-to-end tests: one test binary (fast to link), one module per area.
//! Every test starts the real binaries against real TLS and a real store.

mod accounts;
mod audit;
mod auth;
mod backups;
mod chaos;
mod cli;
mod config;
mod console;
mod control_backup;
mod demo;
mod edge;
mod edge_bind;
mod edge_quarantine;
mod exec;
mod hollow;
mod identity;
mod isolation;
mod json;
mod lifecycle;
mod lockout;
mod log_reader;
mod logs;
mod nodes;
mod operations;
mod quota;
mod scripts;
mod specs;
mod store;
mod tenancy;
mod terminal;
mod tunnel;
mod versions;
mod volumes;
mod workloads;
mod workloads_util;
