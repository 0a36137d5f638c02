//! The executor's work on its agent: discovery, streams and Logstash, kept in
//! line with the config set and the running containers.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::messages::{ConfigSet, ExecutorReport, LogstashHealth};
use crate::logstash::render::Target;

use super::agent::Workload;
use super::discovery::{self, DiscoverySettings, DockerError, Snapshot};
use super::logstash::{LogstashSettings, Supervisor};
use super::matching::{self, RequiredLabel};
use super::monitoring;
use super::pipeline::{self, AgentInfo};
use super::stream::StreamSettings;
use super::streams::StreamManager;

/// Errors kept for the report, newest last.
const KEEP_ERRORS: usize = 20;
/// How long the task waits for Docker before it fails to start.
const DISCOVERY_READY: Duration = Duration::from_secs(60);
/// How long it waits for Logstash before it reports RUNNING anyway (the
/// spool keeps every line meanwhile; health says what Logstash does).
const LOGSTASH_READY: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct WorkloadSettings {
    pub streams: StreamSettings,
    pub discovery: DiscoverySettings,
    pub require_label: Option<RequiredLabel>,
    pub logstash: LogstashSettings,
    /// Where the agent's root file system is visible (host-level configs).
    pub host_root: String,
    /// What the metadata on every event says about the agent.
    pub agent: AgentInfo,
}

pub struct DockerWorkload {
    settings: WorkloadSettings,
    configs: Option<ConfigSet>,
    containers: watch::Receiver<Snapshot>,
    manager: Option<StreamManager>,
    logstash: Option<Supervisor>,
    skipped: Vec<String>,
    errors: VecDeque<String>,
    /// `(pipeline id, config)` of the pipelines last written.
    pipelines: Vec<(String, String)>,
}

impl DockerWorkload {
    /// Connects to Docker and starts discovery and the Logstash supervisor.
    pub async fn start(
        settings: WorkloadSettings,
        cancel: &CancellationToken,
    ) -> Result<DockerWorkload, DockerError> {
        let docker = discovery::connect(Duration::from_secs(10)).await?;
        let (containers, _task) =
            discovery::spawn(docker.clone(), settings.discovery.clone(), cancel.clone());
        let manager = StreamManager::new(docker, settings.streams.clone());
        let logstash = Supervisor::start(settings.logstash.clone(), cancel);
        Ok(DockerWorkload {
            settings,
            configs: None,
            containers,
            manager: Some(manager),
            logstash: Some(logstash),
            skipped: Vec::new(),
            errors: VecDeque::new(),
            pipelines: Vec::new(),
        })
    }

    fn note(&mut self, error: String) {
        if self.errors.back() != Some(&error) {
            tracing::warn!(%error, "executor error");
            self.errors.push_back(error);
            while self.errors.len() > KEEP_ERRORS {
                self.errors.pop_front();
            }
        }
    }
}

impl Workload for DockerWorkload {
    async fn apply(&mut self, configs: &ConfigSet) {
        self.configs = Some(configs.clone());
        self.refresh();
    }

    async fn ready(&mut self) -> Result<(), String> {
        let connected =
            tokio::time::timeout(DISCOVERY_READY, self.containers.wait_for(|s| s.connected))
                .await
                .is_ok_and(|r| r.is_ok());
        if !connected {
            return Err(format!(
                "the Docker daemon did not answer within {DISCOVERY_READY:?}"
            ));
        }
        // Waiting consumed the first listing's change notice: act on it now.
        self.refresh();
        if let Some(logstash) = &self.logstash {
            let health = logstash.wait_settled(LOGSTASH_READY).await;
            if !matches!(
                health,
                LogstashHealth::Running | LogstashHealth::NotInstalled
            ) {
                self.note(format!(
                    "Logstash is not up after {LOGSTASH_READY:?} ({health:?}); lines are kept in the spool"
                ));
            }
        }
        Ok(())
    }

    async fn changed(&mut self) {
        if self.containers.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn refresh(&mut self) {
        let Some(configs) = &self.configs else { return };
        let Some(manager) = self.manager.as_mut() else {
            return;
        };
        let snapshot = self.containers.borrow_and_update().clone();
        let desired = matching::desired_streams(
            configs,
            &snapshot.containers,
            self.settings.require_label.as_ref(),
        );
        manager.apply(&desired);
        self.skipped = desired
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.name, s.reason))
            .collect();
        let rendered = pipeline::render(
            configs,
            &desired,
            &snapshot.containers,
            |key| Target {
                glob: manager.spool_glob(key),
                sincedb: manager.sincedb_path(key).display().to_string(),
            },
            &self.settings.host_root,
            &self.settings.agent,
        );
        self.pipelines = rendered
            .pipelines
            .iter()
            .map(|p| (p.id.clone(), p.config.clone()))
            .collect();
        let mut errors = rendered.errors;
        if let Some(logstash) = &self.logstash
            && let Err(e) = logstash.write_pipelines(&rendered.pipelines)
        {
            errors.push(format!(
                "cannot write the pipelines in {}: {e}",
                logstash.layout().pipelines.display()
            ));
        }
        for e in errors {
            self.note(e);
        }
    }

    fn report(&mut self) -> ExecutorReport {
        let (streams, totals) = self
            .manager
            .as_mut()
            .map(StreamManager::reports)
            .unwrap_or_default();
        let (logstash, logstash_message) = self
            .logstash
            .as_ref()
            .map(Supervisor::health)
            .unwrap_or((LogstashHealth::NotInstalled, None));
        let mut errors: Vec<String> = self.skipped.clone();
        errors.extend(
            self.logstash
                .as_ref()
                .and_then(Supervisor::install_error)
                .map(|e| format!("logstash plugins: {e}")),
        );
        errors.extend(logstash_message.map(|m| format!("logstash: {m}")));
        errors.extend(self.errors.iter().cloned());
        let seen = self.logstash.as_ref().and_then(Supervisor::observed);
        ExecutorReport {
            config_version: self.configs.as_ref().map(|c| c.version),
            streams,
            logstash,
            totals,
            errors,
            // Without Logstash no pipeline runs, and none is about to.
            pipelines: if logstash == LogstashHealth::NotInstalled {
                Vec::new()
            } else {
                monitoring::health(&self.pipelines, seen.as_ref())
            },
        }
    }

    async fn shutdown(&mut self, grace: Duration) {
        if let Some(manager) = self.manager.take() {
            let (_, totals) = manager.shutdown(grace).await;
            tracing::info!(?totals, "streams stopped");
        }
        if let Some(logstash) = self.logstash.take() {
            logstash.stop(Duration::from_secs(20)).await;
        }
    }
}
