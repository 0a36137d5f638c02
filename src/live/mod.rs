//! The live view: what a running scheduler (or `local`) knows that is not in
//! the log: the state of its Mesos connection, the latest report of each
//! executor and the recent history of their counters (stats are not events),
//! and the pure views of them the API and the GUI show (nodes, problems,
//! summary, queries).
//!
//! Written by the scheduler's driver and `local`, read by the API. Must not
//! import `api`, `journal`, `scheduler`, `executor` or `server`.

pub mod history;
pub mod node_query;
pub mod nodes;
pub mod problems;
pub mod summary;

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use serde::Serialize;

use crate::events::messages::ExecutorReport;
use history::History;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// This process does not drive Mesos (local mode, or not the leader).
    #[default]
    Inactive,
    Connecting,
    Subscribed,
    Disconnected,
    /// Another scheduler took over the framework; this one stood down.
    FailedOver,
    /// The framework was torn down or removed by Mesos.
    Removed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connection {
    pub state: ConnectionState,
    /// The master this scheduler talks to, when known.
    pub master: Option<String>,
    /// When the state last changed (unix ms).
    pub since: u64,
    pub last_error: Option<String>,
    /// Whether offers are suppressed because every agent runs an executor.
    pub suppressed: bool,
}

/// The latest report of one executor.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// When it arrived (unix ms).
    pub received_at: u64,
    pub executor_id: String,
    pub report: ExecutorReport,
}

/// An agent whose offers lack ports the configs listen on, so it gets no
/// executor (from the latest offer declined for that reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortsUnavailable {
    pub hostname: String,
    pub missing: Vec<u16>,
    /// When the offer was declined (unix ms).
    pub at: u64,
}

#[derive(Debug, Default)]
pub struct Live {
    connection: RwLock<Connection>,
    reports: RwLock<BTreeMap<String, Report>>,
    history: Mutex<History>,
    ports_unavailable: RwLock<BTreeMap<String, PortsUnavailable>>,
}

impl Live {
    pub fn connection(&self) -> Connection {
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn update_connection(&self, f: impl FnOnce(&mut Connection)) {
        f(&mut self.connection.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// Keeps `report` as the agent's latest and adds it to the history.
    pub fn set_report(&self, agent_id: &str, report: Report) {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(
                agent_id,
                &report.executor_id,
                report.received_at,
                &report.report.totals,
                report.report.errors.len(),
            );
        self.reports
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent_id.to_owned(), report);
    }

    pub fn forget_report(&self, agent_id: &str) {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(agent_id);
        self.reports
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(agent_id);
    }

    pub fn reports(&self) -> BTreeMap<String, Report> {
        self.reports
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records (`Some`) or clears (`None`, on a launch there) that the
    /// agent's offers lack declared ports.
    pub fn set_ports_unavailable(&self, agent_id: &str, unavailable: Option<PortsUnavailable>) {
        let mut all = self
            .ports_unavailable
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match unavailable {
            Some(u) => all.insert(agent_id.to_owned(), u),
            None => all.remove(agent_id),
        };
    }

    /// Agents whose offers lack declared ports, by agent id.
    pub fn ports_unavailable(&self) -> BTreeMap<String, PortsUnavailable> {
        self.ports_unavailable
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` on the counters' history. Keep `f` short: reports wait for it.
    pub fn history<R>(&self, f: impl FnOnce(&History) -> R) -> R {
        f(&self.history.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
