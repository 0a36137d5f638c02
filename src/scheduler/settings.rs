//! What the scheduler is configured with: how it registers with Mesos and how
//! it launches executors.

use std::time::Duration;

use crate::events::ExecutorSettings;

use super::constraints::Constraint;
use super::offers::Requirements;

/// One week: long enough for any planned scheduler outage; after this long
/// without a scheduler, Mesos tears the framework and its executors down.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How the framework registers with Mesos.
#[derive(Debug, Clone)]
pub struct FrameworkSettings {
    pub name: String,
    pub role: String,
    /// The Unix user executors run as on the agents.
    pub user: String,
    pub principal: Option<String>,
    pub failover_timeout: Duration,
    /// Where the Mesos UI links to for this framework (our GUI).
    pub webui_url: Option<String>,
    /// Our own hostname, shown by Mesos.
    pub hostname: Option<String>,
}

/// How executors are launched and where.
#[derive(Debug, Clone)]
pub struct LaunchSettings {
    pub executor: ExecutorSettings,
    pub constraints: Vec<Constraint>,
    /// Docker socket on the agents, mounted into an executor image.
    pub docker_socket: String,
    /// Extra environment for the executor (its own flags), name → value.
    pub environment: Vec<(String, String)>,
}

impl LaunchSettings {
    pub fn requirements(&self, role: &str) -> Requirements {
        Requirements {
            role: role.to_owned(),
            cpus: f64::from(self.executor.cpus_milli) / 1000.0,
            mem_mib: f64::from(self.executor.mem_mib),
            disk_mib: f64::from(self.executor.disk_mib),
            constraints: self.constraints.clone(),
        }
    }
}
