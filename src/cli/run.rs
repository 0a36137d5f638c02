//! The subcommands' runners: each builds its settings from the flags (a
//! [`super::UsageError`] before anything starts), then runs until SIGINT or
//! SIGTERM through [`until_signal`].

use std::future::Future;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{ExecutorStreamsArgs, LocalArgs, SchedulerArgs, WorkloadArgs};
use crate::executor::agent::{self, Unavailable};
use crate::executor::standalone;
use crate::executor::workload::DockerWorkload;
use crate::local as local_mode;
use crate::mesos::executor::ExecutorEnv;
use crate::mesos::scheduler::SchedulerClient;
use crate::scheduler::driver::{Leader, Outcome};
use crate::scheduler::leadership;
use crate::server::Server;

/// Runs `body` on a new runtime with a token that is cancelled at the first
/// SIGINT or SIGTERM. The handlers are installed before `body` starts, so a
/// signal sent right after it prints its address is not lost to the default
/// action.
pub fn until_signal<F, Fut>(body: F) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let stop = CancellationToken::new();
        let signal = shutdown_signal();
        let cancel = stop.clone();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("shutting down");
            cancel.cancel();
        });
        body(stop).await
    })
}

/// Everything on one machine: the API, a journal of one replica and, unless
/// `--no-executor`, the executor in-process.
pub fn local(args: LocalArgs) -> anyhow::Result<()> {
    let config = args.common.server_config(args.listen, &[])?;
    let workload = if args.no_executor {
        None
    } else {
        let mut settings = args.workload.settings(config.data_dir.join("executor"))?;
        // The in-process executor installs what the API accepts.
        for plugin in &args.common.logstash_plugins {
            if !settings.logstash.plugins.contains(plugin) {
                settings.logstash.plugins.push(plugin.clone());
            }
        }
        Some(settings)
    };
    until_signal(|stop| async move {
        let data_dir = config.data_dir.clone();
        let server = Server::start(config).await?;
        println!("logstash-mesos local: listening on http://{}/", server.addr);
        tracing::info!(addr = %server.addr, data_dir = %data_dir.display(), "local started");
        let executor = workload.map(|settings| {
            tokio::spawn(local_mode::run(
                server.journal.clone(),
                server.live.clone(),
                settings,
                stop.clone(),
            ))
        });
        stop.cancelled().await;
        if let Some(executor) = executor
            && let Ok(Err(e)) = executor.await
        {
            tracing::warn!(error = %e, "the local executor could not record its end");
        }
        server.shutdown();
        server.wait().await?;
        Ok(())
    })
}

/// One scheduler replica; its leader duties run while it leads.
pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let gui_urls: Vec<String> = args.mesos.webui_url.iter().cloned().collect();
    let mut config = args.common.server_config(args.listen, &gui_urls)?;
    config.cluster = args.cluster.settings()?;
    config.raft_listen = args.cluster.raft_listen;
    let mesos = args.mesos.scheduler_config()?;
    let this_binary = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string());
    let mut launch = args.mesos.launch(this_binary)?;
    if !args.common.logstash_plugins.is_empty() {
        // The executors install the plugins the API accepts.
        let gems: Vec<String> = args
            .common
            .logstash_plugins
            .iter()
            .map(|p| p.gem())
            .collect();
        launch
            .environment
            .push(("LOGSTASH_MESOS_INSTALL_PLUGINS".into(), gems.join(",")));
    }
    let framework = args.mesos.framework(&hostname(), args.listen.port());
    let replica = args.cluster.node_id;
    until_signal(|stop| async move {
        SchedulerClient::new(mesos.clone())?.check_tls().await?;
        let server = Server::start(config).await?;
        let leader = Leader {
            journal: server.journal.clone(),
            live: server.live.clone(),
            framework,
            launch,
            mesos,
            replica,
        };
        if args.teardown {
            leader.teardown(std::time::Duration::from_secs(60)).await?;
            println!("logstash-mesos: the framework was torn down");
            server.shutdown();
            server.wait().await?;
            return Ok(());
        }
        println!(
            "logstash-mesos scheduler: listening on http://{}/",
            server.addr
        );
        let outcome = tokio::spawn(leadership::run(leader, stop)).await;
        server.shutdown();
        server.wait().await?;
        match outcome.context("the Mesos loop panicked")?? {
            Outcome::Stopped | Outcome::TornDown => Ok(()),
            Outcome::FailedOver(message) => anyhow::bail!(
                "another scheduler took over the framework ({message}); this one stood down"
            ),
            Outcome::Fatal(message) => anyhow::bail!("the Mesos subscription failed: {message}"),
        }
    })
}

/// The executor Mesos starts on an agent; it reports a failed task, with the
/// reason, when Docker cannot be used.
pub fn executor(args: WorkloadArgs) -> anyhow::Result<()> {
    let env = ExecutorEnv::from_process_env()?;
    let default_state = args
        .state_root
        .join(&env.framework_id)
        .join(env.agent_id.as_deref().unwrap_or("agent"));
    let mut settings = args.settings(default_state)?;
    settings.agent.agent_id = env.agent_id.clone().unwrap_or_default();
    settings.agent.framework_id = env.framework_id.clone();
    until_signal(|stop| async move {
        match DockerWorkload::start(settings, &stop).await {
            Ok(workload) => agent::run(env, workload, stop).await?,
            Err(e) => agent::run(env, Unavailable(e.to_string()), stop).await?,
        }
        Ok(())
    })
}

/// The executor's streams alone, driven by a config-set file.
pub fn executor_streams(args: ExecutorStreamsArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    until_signal(|stop| standalone::run(options, stop))
}

/// This machine's hostname, for the framework's Mesos UI link.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Listens for SIGINT and SIGTERM from the moment it is called (not from the
/// first poll).
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(interrupt) => {}
            _ = wait(terminate) => {}
        }
    }
}
