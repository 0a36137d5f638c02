//! What the scheduler is configured with: how it registers with Mesos and how
//! it launches executors.

use std::time::Duration;

use crate::events::ExecutorSettings;
use crate::mesos::proto::v1::{FrameworkId, FrameworkInfo, framework_info};

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
    /// URI of an offline Logstash plugin pack for the Mesos fetcher.
    pub plugin_pack: Option<String>,
}

impl LaunchSettings {
    pub fn requirements(&self, role: &str) -> Requirements {
        Requirements {
            role: role.to_owned(),
            cpus: f64::from(self.executor.cpus_milli) / 1000.0,
            mem_mib: f64::from(self.executor.mem_mib),
            disk_mib: f64::from(self.executor.disk_mib),
            constraints: self.constraints.clone(),
            ports: Vec::new(),
        }
    }
}

impl FrameworkSettings {
    /// The FrameworkInfo to subscribe with; `id` resumes a framework whose id
    /// is in the log. Checkpointing keeps executors alive across agent
    /// restarts; partition awareness keeps an unreachable agent's task from
    /// being reported lost (and replaced) while it may still run.
    pub fn framework_info(&self, id: Option<String>) -> FrameworkInfo {
        let capability = |t: framework_info::capability::Type| framework_info::Capability {
            r#type: Some(t as i32),
        };
        FrameworkInfo {
            user: self.user.clone(),
            name: self.name.clone(),
            id: id.map(|value| FrameworkId { value }),
            failover_timeout: Some(self.failover_timeout.as_secs_f64()),
            checkpoint: Some(true),
            role: Some(self.role.clone()),
            hostname: self.hostname.clone(),
            principal: self.principal.clone(),
            webui_url: self.webui_url.clone(),
            capabilities: vec![
                capability(framework_info::capability::Type::PartitionAware),
                capability(framework_info::capability::Type::TaskKillingState),
            ],
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_info_resumes_with_the_logged_id() {
        let settings = FrameworkSettings {
            name: "logstash".into(),
            role: "*".into(),
            user: "root".into(),
            principal: Some("ops".into()),
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
            webui_url: Some("http://sched:9092/".into()),
            hostname: None,
        };
        let fresh = settings.framework_info(None);
        assert_eq!(fresh.id, None);
        assert_eq!(fresh.failover_timeout, Some(604_800.0));
        assert_eq!(fresh.checkpoint, Some(true));
        assert_eq!(fresh.webui_url.as_deref(), Some("http://sched:9092/"));
        let resumed = settings.framework_info(Some("fw-1".into()));
        assert_eq!(resumed.id.map(|i| i.value).as_deref(), Some("fw-1"));
    }
}
