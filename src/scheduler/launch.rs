//! Translations between Mesos protobufs and the scheduler's decisions: the
//! offer view the decisions read, the TaskInfo a launch sends, and the command
//! a status update becomes. Pure functions, so the shapes Mesos receives are
//! unit-tested without a master.

use std::time::Duration;

use crate::events::messages::{ConfigSet, ToExecutor};
use crate::events::{Command, ExecutorCommand, TaskState};
use crate::mesos::proto::v1 as mesos;
use crate::mesos::proto::v1::{
    AgentId, CommandInfo, ContainerInfo, DurationInfo, Environment, ExecutorId, ExecutorInfo,
    KillPolicy, Resource, TaskId, TaskInfo, TaskStatus, Volume, command_info, container_info,
    environment, executor_info, value, volume,
};

use super::offers;
use super::settings::LaunchSettings;

/// What the executor process itself is given; the task holds the rest, so the
/// configured totals are what the agent accounts for our executor.
pub const EXECUTOR_CPUS: f64 = 0.05;
pub const EXECUTOR_MEM_MIB: f64 = 32.0;
/// The smallest executor settings that leave the task as much as the
/// executor process itself.
pub const MIN_CPUS: f64 = 2.0 * EXECUTOR_CPUS;
pub const MIN_MEM_MIB: f64 = 2.0 * EXECUTOR_MEM_MIB;
/// How long the executor gets to drain its streams when killed or shut down.
pub const GRACE_PERIOD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LaunchError {
    #[error("the offer lacks {name}: {needed} needed, {available} usable")]
    ShortOf {
        name: String,
        needed: f64,
        available: f64,
    },
    #[error(
        "executor resources must be at least {MIN_CPUS} cpus and {MIN_MEM_MIB} MiB: the executor process takes {EXECUTOR_CPUS} cpus and {EXECUTOR_MEM_MIB} MiB and the task at least as much"
    )]
    TooSmall,
}

/// The decisions' view of an offer.
pub fn offer_view(offer: &mesos::Offer) -> offers::Offer {
    offers::Offer {
        id: offer.id.value.clone(),
        agent_id: offer.agent_id.value.clone(),
        hostname: offer.hostname.clone(),
        resources: offer.resources.iter().map(resource_view).collect(),
        attributes: offer
            .attributes
            .iter()
            .map(|a| (a.name.clone(), attribute_text(a)))
            .collect(),
        executor_ids: offer.executor_ids.iter().map(|e| e.value.clone()).collect(),
    }
}

fn resource_view(r: &Resource) -> offers::Resource {
    offers::Resource {
        name: r.name.clone(),
        reserved_for: reserved_for(r),
        allocated_to: r.allocation_info.as_ref().and_then(|a| a.role.clone()),
        scalar: r.scalar.map(|s| s.value),
        revocable: r.revocable.is_some(),
        ranges: r
            .ranges
            .iter()
            .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end)))
            .collect(),
    }
}

/// The role a resource is reserved for: the last of a refined reservation
/// stack, or the legacy `role` field when it is not `*`.
fn reserved_for(r: &Resource) -> Option<String> {
    if let Some(last) = r.reservations.last() {
        return last.role.clone().or(Some(String::new()));
    }
    r.role.clone().filter(|role| role != "*")
}

/// An attribute's value written as Mesos writes it (`[1-2]`, `{a,b}`, text or number).
fn attribute_text(a: &mesos::Attribute) -> String {
    if let Some(text) = &a.text {
        return text.value.clone();
    }
    if let Some(scalar) = a.scalar {
        return scalar.value.to_string();
    }
    if let Some(ranges) = &a.ranges {
        let parts: Vec<String> = ranges
            .range
            .iter()
            .map(|r| format!("{}-{}", r.begin, r.end))
            .collect();
        return format!("[{}]", parts.join(", "));
    }
    if let Some(set) = &a.set {
        return format!("{{{}}}", set.item.join(","));
    }
    String::new()
}

/// Ids of one launch; unique because they hold the agent and the launch time
/// in ms, and the driver launches at most once per agent per offer batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchIds {
    pub task_id: String,
    pub executor_id: String,
}

impl LaunchIds {
    pub fn new(agent_id: &str, now_ms: u64) -> LaunchIds {
        // Mesos ids: no '/', no control characters, at most 255 bytes.
        let agent: String = agent_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        LaunchIds {
            task_id: format!("logstash.{agent}.{now_ms}"),
            executor_id: format!("logstash-executor.{agent}.{now_ms}"),
        }
    }
}

/// The TaskInfo that starts our executor on the offer's agent, with resources
/// cut from the offer's entries (keeping their role, reservation and
/// allocation fields so Mesos accepts them) and the current config set in
/// `data`, so the executor does not wait for the first message. The ports
/// the configs listen on are the task's too, published in its
/// `DiscoveryInfo`.
pub fn task_info(
    offer: &mesos::Offer,
    settings: &LaunchSettings,
    role: &str,
    ids: &LaunchIds,
    configs: &ConfigSet,
) -> Result<TaskInfo, LaunchError> {
    let declared = super::ports::declared(configs);
    let e = &settings.executor;
    let cpus = f64::from(e.cpus_milli) / 1000.0;
    let mem = f64::from(e.mem_mib);
    let disk = f64::from(e.disk_mib);
    if cpus < MIN_CPUS || mem < MIN_MEM_MIB {
        return Err(LaunchError::TooSmall);
    }
    let mut pool: Vec<Resource> = offer
        .resources
        .iter()
        .filter(|r| offers::usable_by(&resource_view(r), role))
        .cloned()
        .collect();
    let mut executor_resources = take(&mut pool, "cpus", EXECUTOR_CPUS)?;
    executor_resources.extend(take(&mut pool, "mem", EXECUTOR_MEM_MIB)?);
    let mut task_resources = take(&mut pool, "cpus", cpus - EXECUTOR_CPUS)?;
    task_resources.extend(take(&mut pool, "mem", mem - EXECUTOR_MEM_MIB)?);
    if disk > 0.0 {
        task_resources.extend(take(&mut pool, "disk", disk)?);
    }
    task_resources.extend(
        super::ports::take_ports(&mut pool, &super::ports::numbers(&declared)).map_err(|port| {
            LaunchError::ShortOf {
                name: format!("ports ({port})"),
                needed: 1.0,
                available: 0.0,
            }
        })?,
    );
    let grace = DurationInfo {
        nanoseconds: i64::try_from(GRACE_PERIOD.as_nanos()).unwrap_or(i64::MAX),
    };
    let executor = ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: ids.executor_id.clone(),
        },
        command: Some(command(settings)),
        container: container(settings),
        resources: executor_resources,
        name: Some("logstash-mesos executor".into()),
        shutdown_grace_period: Some(grace),
        ..Default::default()
    };
    Ok(TaskInfo {
        name: "logstash-mesos".into(),
        task_id: TaskId {
            value: ids.task_id.clone(),
        },
        agent_id: offer.agent_id.clone(),
        resources: task_resources,
        executor: Some(executor),
        kill_policy: Some(KillPolicy {
            grace_period: Some(grace),
        }),
        data: Some(ToExecutor::Configs(configs.clone()).encode()),
        discovery: (!declared.is_empty()).then(|| super::ports::discovery(&declared)),
        ..Default::default()
    })
}

/// Cuts `amount` of a scalar resource from the pool, entry by entry.
fn take(pool: &mut [Resource], name: &str, amount: f64) -> Result<Vec<Resource>, LaunchError> {
    let mut needed = amount;
    let mut taken = Vec::new();
    for entry in pool.iter_mut().filter(|r| r.name == name) {
        let Some(left) = entry.scalar.map(|s| s.value) else {
            continue;
        };
        if needed <= 1e-9 {
            break;
        }
        let cut = round_milli(needed.min(left));
        if cut <= 0.0 {
            continue;
        }
        let mut piece = entry.clone();
        piece.scalar = Some(value::Scalar { value: cut });
        entry.scalar = Some(value::Scalar {
            value: round_milli(left - cut),
        });
        needed = round_milli(needed - cut);
        taken.push(piece);
    }
    if needed > 1e-9 {
        let available: f64 = taken.iter().filter_map(|r| r.scalar.map(|s| s.value)).sum();
        return Err(LaunchError::ShortOf {
            name: name.to_owned(),
            needed: amount,
            available,
        });
    }
    Ok(taken)
}

/// Mesos keeps scalars to three decimals.
fn round_milli(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The file name the Mesos fetcher gives a URI's download in the sandbox.
fn fetched_name(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

fn command(settings: &LaunchSettings) -> CommandInfo {
    let pack = settings.plugin_pack.as_ref().map(|uri| {
        (
            command_info::Uri {
                value: uri.clone(),
                executable: Some(false),
                extract: Some(false),
                cache: Some(true),
                output_file: None,
            },
            ("LOGSTASH_MESOS_PLUGIN_PACK".to_owned(), fetched_name(uri)),
        )
    });
    let environment = Some(Environment {
        variables: settings
            .environment
            .iter()
            .chain(pack.iter().map(|(_, env)| env))
            .map(|(name, value)| environment::Variable {
                name: name.clone(),
                r#type: Some(environment::variable::Type::Value as i32),
                value: Some(value.clone()),
                secret: None,
            })
            .collect(),
    });
    let (program, uris) = match &settings.executor.command {
        ExecutorCommand::Binary { path, uri } => (
            path.clone(),
            uri.iter()
                .map(|u| command_info::Uri {
                    value: u.clone(),
                    executable: Some(true),
                    extract: Some(false),
                    cache: Some(false),
                    output_file: None,
                })
                .collect(),
        ),
        ExecutorCommand::Image { .. } => ("logstash-mesos".to_owned(), Vec::new()),
    };
    let uris = uris.into_iter().chain(pack.map(|(uri, _)| uri)).collect();
    CommandInfo {
        uris,
        environment,
        // Exec the program with arguments; no shell ever sees our values.
        shell: Some(false),
        arguments: vec![program.clone(), "executor".into()],
        value: Some(program),
        user: None,
    }
}

/// The executor's default `--state-root`.
const EXECUTOR_STATE_ROOT: &str = "/var/lib/logstash-mesos";

fn container(settings: &LaunchSettings) -> Option<ContainerInfo> {
    let ExecutorCommand::Image { image } = &settings.executor.command else {
        return None;
    };
    let bind = |path: &str| Volume {
        mode: volume::Mode::Rw as i32,
        container_path: path.to_owned(),
        host_path: Some(path.to_owned()),
        ..Default::default()
    };
    Some(ContainerInfo {
        r#type: container_info::Type::Docker as i32,
        docker: Some(container_info::DockerInfo {
            image: image.clone(),
            network: Some(container_info::docker_info::Network::Host as i32),
            // `docker run --pid=host`: the host's PIDs, so the direct reader
            // finds the containers' roots under /proc/<pid>/root.
            parameters: vec![mesos::Parameter {
                key: "pid".into(),
                value: "host".into(),
            }],
            ..Default::default()
        }),
        // The Docker socket, and the state root (the executor's default),
        // so checkpoints and spool outlive the executor's container.
        volumes: vec![bind(&settings.docker_socket), bind(EXECUTOR_STATE_ROOT)],
        ..Default::default()
    })
}

pub fn task_state(state: i32) -> TaskState {
    use mesos::TaskState as M;
    match M::try_from(state) {
        Ok(M::TaskStaging) => TaskState::Staging,
        Ok(M::TaskStarting) => TaskState::Starting,
        Ok(M::TaskRunning) => TaskState::Running,
        Ok(M::TaskKilling) => TaskState::Killing,
        Ok(M::TaskFinished) => TaskState::Finished,
        Ok(M::TaskFailed) => TaskState::Failed,
        Ok(M::TaskKilled) => TaskState::Killed,
        Ok(M::TaskError) => TaskState::Error,
        Ok(M::TaskLost) => TaskState::Lost,
        Ok(M::TaskDropped) => TaskState::Dropped,
        Ok(M::TaskUnreachable) => TaskState::Unreachable,
        Ok(M::TaskGone) => TaskState::Gone,
        Ok(M::TaskGoneByOperator) => TaskState::GoneByOperator,
        Ok(M::TaskUnknown) | Err(_) => TaskState::Unknown,
    }
}

/// The command recording a status update (None without an agent id, which the
/// master always sets on updates it forwards).
pub fn status_command(status: &TaskStatus) -> Option<Command> {
    let agent_id = status.agent_id.as_ref()?.value.clone();
    let reason = status
        .reason
        .and_then(|r| mesos::task_status::Reason::try_from(r).ok())
        .map(|r| r.as_str_name().to_owned());
    let source = status
        .source
        .and_then(|s| mesos::task_status::Source::try_from(s).ok())
        .map(|s| s.as_str_name().to_owned());
    Some(Command::RecordTaskStatus {
        task_id: status.task_id.value.clone(),
        agent_id,
        state: task_state(status.state),
        reason,
        message: status.message.clone().filter(|m| !m.is_empty()),
        source,
    })
}

pub fn agent(id: &str) -> AgentId {
    AgentId { value: id.into() }
}

pub fn task(id: &str) -> TaskId {
    TaskId { value: id.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ExecutorSettings;
    use crate::mesos::proto::v1::{FrameworkId, OfferId, resource};

    fn scalar(name: &str, value: f64, role: Option<&str>) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value }),
            allocation_info: role.map(|r| resource::AllocationInfo {
                role: Some(r.into()),
            }),
            ..Default::default()
        }
    }

    fn offer(resources: Vec<Resource>) -> mesos::Offer {
        mesos::Offer {
            id: OfferId { value: "o1".into() },
            framework_id: FrameworkId { value: "fw".into() },
            agent_id: agent("ag1"),
            hostname: "web-1.example".into(),
            resources,
            ..Default::default()
        }
    }

    fn settings(command: ExecutorCommand) -> LaunchSettings {
        LaunchSettings {
            executor: ExecutorSettings {
                cpus_milli: 200,
                mem_mib: 256,
                disk_mib: 0,
                logstash_heap_mib: 512,
                command,
            },
            constraints: vec![],
            docker_socket: "/var/run/docker.sock".into(),
            environment: vec![("RUST_LOG".into(), "info".into())],
            plugin_pack: None,
        }
    }

    fn binary() -> ExecutorCommand {
        ExecutorCommand::Binary {
            path: "/opt/logstash-mesos".into(),
            uri: None,
        }
    }

    fn amounts(resources: &[Resource]) -> Vec<(String, f64)> {
        resources
            .iter()
            .map(|r| (r.name.clone(), r.scalar.unwrap().value))
            .collect()
    }

    #[test]
    fn resources_are_cut_from_the_offer_keeping_their_fields() {
        let o = offer(vec![
            scalar("cpus", 0.1, Some("*")),
            scalar("cpus", 4.0, Some("*")),
            scalar("mem", 1024.0, Some("*")),
        ]);
        let ids = LaunchIds::new("ag1", 7);
        let task = task_info(&o, &settings(binary()), "*", &ids, &ConfigSet::default()).unwrap();
        let executor = task.executor.as_ref().unwrap();
        assert_eq!(
            amounts(&executor.resources),
            [("cpus".into(), 0.05), ("mem".into(), 32.0)]
        );
        assert_eq!(
            amounts(&task.resources),
            [
                ("cpus".into(), 0.05),
                ("cpus".into(), 0.1),
                ("mem".into(), 224.0)
            ]
        );
        assert!(task.resources.iter().all(|r| r.allocation_info.is_some()));
        assert_eq!(task.task_id.value, "logstash.ag1.7");
        assert_eq!(executor.executor_id.value, "logstash-executor.ag1.7");
        assert_eq!(task.agent_id.value, "ag1");
        assert!(
            task.command.is_none(),
            "a task has an executor or a command, not both"
        );
        let decoded = ToExecutor::decode(task.data.as_ref().unwrap()).unwrap();
        assert_eq!(decoded, ToExecutor::Configs(ConfigSet::default()));
    }

    #[test]
    fn short_offers_and_small_settings_are_errors() {
        let o = offer(vec![scalar("cpus", 0.1, None), scalar("mem", 1024.0, None)]);
        let ids = LaunchIds::new("h", 1);
        assert!(matches!(
            task_info(&o, &settings(binary()), "*", &ids, &ConfigSet::default()),
            Err(LaunchError::ShortOf { name, .. }) if name == "cpus"
        ));
        let mut tiny = settings(binary());
        tiny.executor.mem_mib = 40;
        let plenty = offer(vec![scalar("cpus", 4.0, None), scalar("mem", 4096.0, None)]);
        assert_eq!(
            task_info(&plenty, &tiny, "*", &ids, &ConfigSet::default()),
            Err(LaunchError::TooSmall)
        );
    }

    #[test]
    fn the_executor_command_never_goes_through_a_shell() {
        let plenty = offer(vec![scalar("cpus", 4.0, None), scalar("mem", 4096.0, None)]);
        let ids = LaunchIds::new("h/x y", 1);
        assert_eq!(ids.task_id, "logstash.h_x_y.1");
        let with_uri = settings(ExecutorCommand::Binary {
            path: "./logstash-mesos".into(),
            uri: Some("http://repo/logstash-mesos".into()),
        });
        let task = task_info(&plenty, &with_uri, "*", &ids, &ConfigSet::default()).unwrap();
        let command = task.executor.unwrap().command.unwrap();
        assert_eq!(command.shell, Some(false));
        assert_eq!(command.value.as_deref(), Some("./logstash-mesos"));
        assert_eq!(command.arguments, ["./logstash-mesos", "executor"]);
        assert_eq!(command.uris[0].value, "http://repo/logstash-mesos");
        assert_eq!(command.uris[0].executable, Some(true));
        assert_eq!(command.environment.unwrap().variables[0].name, "RUST_LOG");

        // An offline plugin pack is fetched into the sandbox and named to the executor.
        let mut with_pack = with_uri.clone();
        with_pack.plugin_pack = Some("https://repo/packs/plugins-8.19.zip?sig=x".into());
        let task = task_info(&plenty, &with_pack, "*", &ids, &ConfigSet::default()).unwrap();
        let command = task.executor.unwrap().command.unwrap();
        assert_eq!(command.uris.len(), 2);
        assert_eq!(
            command.uris[1].value,
            "https://repo/packs/plugins-8.19.zip?sig=x"
        );
        assert_eq!(command.uris[1].extract, Some(false));
        let env = command.environment.unwrap().variables;
        let pack = env
            .iter()
            .find(|v| v.name == "LOGSTASH_MESOS_PLUGIN_PACK")
            .unwrap();
        assert_eq!(pack.value.as_deref(), Some("plugins-8.19.zip"));

        let image = settings(ExecutorCommand::Image {
            image: "registry/logstash-mesos:1".into(),
        });
        let task = task_info(&plenty, &image, "*", &ids, &ConfigSet::default()).unwrap();
        let container = task.executor.unwrap().container.unwrap();
        assert_eq!(container.r#type, container_info::Type::Docker as i32);
        let docker = container.docker.unwrap();
        assert_eq!(docker.image, "registry/logstash-mesos:1");
        let parameters: Vec<(&str, &str)> = docker
            .parameters
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            parameters,
            [("pid", "host")],
            "the direct reader needs host PIDs"
        );
        let binds: Vec<(&str, Option<&str>)> = container
            .volumes
            .iter()
            .map(|v| (v.container_path.as_str(), v.host_path.as_deref()))
            .collect();
        assert_eq!(
            binds,
            [
                ("/var/run/docker.sock", Some("/var/run/docker.sock")),
                ("/var/lib/logstash-mesos", Some("/var/lib/logstash-mesos")),
            ]
        );
    }

    #[test]
    fn offers_are_viewed_with_roles_and_attributes() {
        let mut o = offer(vec![scalar("cpus", 1.0, Some("logging"))]);
        o.resources.push(Resource {
            role: Some("other".into()),
            ..scalar("mem", 10.0, None)
        });
        o.attributes.push(mesos::Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: "r1".into() }),
            ..Default::default()
        });
        let view = offer_view(&o);
        assert_eq!(view.resources[0].allocated_to.as_deref(), Some("logging"));
        assert_eq!(view.resources[1].reserved_for.as_deref(), Some("other"));
        assert_eq!(view.attributes, [("rack".to_owned(), "r1".to_owned())]);
    }

    #[test]
    fn status_updates_become_commands() {
        let status = TaskStatus {
            task_id: task("t1"),
            state: mesos::TaskState::TaskFailed as i32,
            message: Some("boom".into()),
            source: Some(mesos::task_status::Source::Agent as i32),
            reason: Some(mesos::task_status::Reason::ExecutorTerminated as i32),
            agent_id: Some(agent("ag1")),
            ..Default::default()
        };
        assert_eq!(
            status_command(&status),
            Some(Command::RecordTaskStatus {
                task_id: "t1".into(),
                agent_id: "ag1".into(),
                state: TaskState::Failed,
                reason: Some("REASON_EXECUTOR_TERMINATED".into()),
                message: Some("boom".into()),
                source: Some("SOURCE_AGENT".into()),
            })
        );
        assert_eq!(task_state(999), TaskState::Unknown);
    }
}
