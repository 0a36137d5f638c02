//! The integration tests, one binary so that `support/` and the crate are
//! compiled and linked once. Each module names the real parts it needs
//! (a socket, the Docker engine, Chromium, the Mesos harness) and skips with
//! a message when they are absent.

#[path = "../support/mod.rs"]
mod support;

mod api_configs;
mod audit_history;
mod browser_guard;
mod cli_checks;
mod config_dir_safety;
mod config_sources;
mod durability;
mod executor_direct;
mod executor_docker;
mod executor_local;
mod gui_api;
mod gui_browser;
mod gui_browser_local;
mod gui_browser_mesos;
mod gui_browser_roles;
mod gui_nodes_scale;
mod host_plugins;
mod http_limits;
mod layering;
mod mesos_client_faults;
mod mesos_ports_real;
mod mesos_real_client;
mod mesos_scheduler_real;
mod mesos_tls;
mod raft_cluster;
mod raft_mesos_real;
mod raft_trust;
mod spool_full;
mod state_root;
mod token_roles;
