//! The environment a Mesos agent gives a custom executor, parsed once into
//! a typed value.
//!
//! Parsing is a pure function over a variable lookup, so every rule (the
//! per-agent URL path from `MESOS_SLAVE_PID`, stout durations, checkpoint
//! defaults) is tested without touching the process environment.

use std::collections::HashMap;
use std::time::Duration;

/// The agent's default `--recovery_timeout`, used when checkpointing but the
/// variable is missing.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The agent's default `--executor_reregistration_timeout`, passed as
/// `MESOS_SUBSCRIPTION_BACKOFF_MAX`.
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A variable is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A required variable is not set (or empty).
    #[error("environment variable {0} is not set; is this process started by a Mesos agent?")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// A stout duration string that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Mesos duration {input:?}: {reason}")]
pub struct DurationError {
    /// The text.
    pub input: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

/// Parses a stout `Duration` as Mesos prints it: a number (possibly
/// fractional) directly followed by `ns`, `us`, `ms`, `secs`, `mins`, `hrs`,
/// `days` or `weeks` (`2secs`, `15mins`, `1.5hrs`).
pub fn parse_mesos_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| err("missing unit"))?;
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(err("missing number"));
    }
    let value: f64 = number.parse().map_err(|_| err("bad number"))?;
    let unit_secs = match unit.trim() {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86_400.0,
        "weeks" => 604_800.0,
        _ => return Err(err("unknown unit")),
    };
    Duration::try_from_secs_f64(value * unit_secs).map_err(|_| err("out of range"))
}

/// Everything the executor client needs from its environment.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecutorEnv {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: String,
    /// `MESOS_AGENT_ENDPOINT` (`ip:port`), or the address part of
    /// `MESOS_SLAVE_PID` when it is missing.
    pub agent_endpoint: String,
    /// `MESOS_SLAVE_PID` (`slave(1)@ip:port`), when set.
    pub agent_pid: Option<String>,
    /// The executor API URL, `http://<endpoint>/<pid id>/api/v1/executor`.
    /// The pid's id is in the path because several agents can share one
    /// libprocess port (as in local mode); it is what libmesos does too.
    pub endpoint_url: String,
    /// `MESOS_SLAVE_ID`, when set.
    pub agent_id: Option<String>,
    /// `MESOS_CHECKPOINT`: whether to survive agent restarts by
    /// re-subscribing.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`: how long to keep trying to re-subscribe.
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`: the longest wait between
    /// re-subscribe attempts (the agent gives up on executors that do not
    /// re-subscribe within this).
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`, when set.
    pub shutdown_grace_period: Option<Duration>,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, sent as a Bearer token.
    pub auth_token: Option<String>,
    /// `MESOS_SANDBOX` (or `MESOS_DIRECTORY`), when set.
    pub sandbox: Option<String>,
}

impl std::fmt::Debug for ExecutorEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorEnv")
            .field("framework_id", &self.framework_id)
            .field("executor_id", &self.executor_id)
            .field("endpoint_url", &self.endpoint_url)
            .field("agent_id", &self.agent_id)
            .field("checkpoint", &self.checkpoint)
            .field("recovery_timeout", &self.recovery_timeout)
            .field("subscription_backoff_max", &self.subscription_backoff_max)
            .field("shutdown_grace_period", &self.shutdown_grace_period)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("sandbox", &self.sandbox)
            .finish()
    }
}

/// Splits a libprocess pid `id@host:port` into its id and address.
pub fn parse_pid(pid: &str) -> Option<(&str, &str)> {
    let (id, address) = pid.trim().split_once('@')?;
    if id.is_empty() || address.is_empty() || id.contains('/') || id.contains(char::is_whitespace) {
        return None;
    }
    Some((id, address))
}

impl ExecutorEnv {
    /// Parses the environment through `get`, which returns a variable's
    /// value (pure: pass a map in tests).
    pub fn from_lookup<F>(get: F) -> Result<Self, EnvError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let nonempty = |var: &'static str| {
            get(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |var: &'static str| nonempty(var).ok_or(EnvError::Missing(var));
        let duration = |var: &'static str| -> Result<Option<Duration>, EnvError> {
            match nonempty(var) {
                None => Ok(None),
                Some(v) => parse_mesos_duration(&v)
                    .map(Some)
                    .map_err(|e| EnvError::Invalid {
                        var,
                        value: v,
                        reason: e.reason.to_owned(),
                    }),
            }
        };

        let framework_id = required("MESOS_FRAMEWORK_ID")?;
        let executor_id = required("MESOS_EXECUTOR_ID")?;
        let agent_pid = nonempty("MESOS_SLAVE_PID");
        let pid_parts = match &agent_pid {
            None => None,
            Some(p) => Some(parse_pid(p).ok_or_else(|| EnvError::Invalid {
                var: "MESOS_SLAVE_PID",
                value: p.clone(),
                reason: "expected id@host:port".to_owned(),
            })?),
        };
        let agent_endpoint = match (nonempty("MESOS_AGENT_ENDPOINT"), pid_parts) {
            (Some(e), _) => e,
            (None, Some((_, address))) => address.to_owned(),
            (None, None) => return Err(EnvError::Missing("MESOS_AGENT_ENDPOINT")),
        };
        if agent_endpoint.contains('/') || agent_endpoint.contains(char::is_whitespace) {
            return Err(EnvError::Invalid {
                var: "MESOS_AGENT_ENDPOINT",
                value: agent_endpoint,
                reason: "expected host:port".to_owned(),
            });
        }
        let endpoint_url = match pid_parts {
            Some((id, _)) => format!("http://{agent_endpoint}/{id}/api/v1/executor"),
            None => format!("http://{agent_endpoint}/api/v1/executor"),
        };
        let checkpoint = match nonempty("MESOS_CHECKPOINT").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(EnvError::Invalid {
                    var: "MESOS_CHECKPOINT",
                    value: other.to_owned(),
                    reason: "expected 0 or 1".to_owned(),
                });
            }
        };
        Ok(Self {
            framework_id,
            executor_id,
            agent_endpoint,
            agent_id: nonempty("MESOS_SLAVE_ID"),
            agent_pid,
            endpoint_url,
            checkpoint,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT")?
                .unwrap_or(DEFAULT_RECOVERY_TIMEOUT),
            subscription_backoff_max: duration("MESOS_SUBSCRIPTION_BACKOFF_MAX")?
                .unwrap_or(DEFAULT_SUBSCRIPTION_BACKOFF_MAX),
            shutdown_grace_period: duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")?,
            auth_token: nonempty("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
            sandbox: nonempty("MESOS_SANDBOX").or_else(|| nonempty("MESOS_DIRECTORY")),
        })
    }

    /// Parses a map of variables.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, EnvError> {
        Self::from_lookup(|k| vars.get(k).cloned())
    }

    /// Parses this process's environment.
    pub fn from_process_env() -> Result<Self, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_mesos_duration("2secs").unwrap(), secs(2));
        assert_eq!(parse_mesos_duration("15mins").unwrap(), secs(900));
        assert_eq!(parse_mesos_duration("1.5hrs").unwrap(), secs(5400));
        assert_eq!(parse_mesos_duration("1days").unwrap(), secs(86_400));
        assert_eq!(parse_mesos_duration("2weeks").unwrap(), secs(1_209_600));
        assert_eq!(
            parse_mesos_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_mesos_duration("10us").unwrap(),
            Duration::from_micros(10)
        );
        assert_eq!(
            parse_mesos_duration("7ns").unwrap(),
            Duration::from_nanos(7)
        );
        assert_eq!(parse_mesos_duration(" 5secs ").unwrap(), secs(5));
        assert_eq!(parse_mesos_duration("0secs").unwrap(), Duration::ZERO);
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "",
            "secs",
            "5",
            "5 minutes",
            "5s",
            "-5secs",
            "1.2.3secs",
            "5SECS",
            "1e400weeks",
            "99999999999999999999999weeks",
        ] {
            assert!(parse_mesos_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn real_harness_environment() {
        // What the mesos-real harness hands a custom executor.
        let env = ExecutorEnv::from_map(&vars(&[
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "exec-1"),
            ("MESOS_SLAVE_ID", "agent-1"),
            ("MESOS_SLAVE_PID", "slave(2)@127.0.0.1:5050"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5050"),
            ("MESOS_CHECKPOINT", "0"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            ("MESOS_SANDBOX", "/tmp/sandbox"),
        ]))
        .unwrap();
        assert_eq!(env.framework_id, "fw-1");
        assert_eq!(env.executor_id, "exec-1");
        assert_eq!(env.agent_id.as_deref(), Some("agent-1"));
        assert_eq!(
            env.endpoint_url,
            "http://127.0.0.1:5050/slave(2)/api/v1/executor"
        );
        assert!(!env.checkpoint);
        assert_eq!(env.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
        assert_eq!(
            env.subscription_backoff_max,
            DEFAULT_SUBSCRIPTION_BACKOFF_MAX
        );
        assert_eq!(env.shutdown_grace_period, Some(secs(5)));
        assert_eq!(env.sandbox.as_deref(), Some("/tmp/sandbox"));
        assert!(env.auth_token.is_none());
    }

    #[test]
    fn checkpointing_agent_environment() {
        let env = ExecutorEnv::from_map(&vars(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_AGENT_ENDPOINT", "10.0.0.5:5051"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "30mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "jwt.token.here"),
            ("MESOS_DIRECTORY", "/var/lib/mesos/sandbox"),
        ]))
        .unwrap();
        // No pid: the plain path.
        assert_eq!(env.endpoint_url, "http://10.0.0.5:5051/api/v1/executor");
        assert!(env.checkpoint);
        assert_eq!(env.recovery_timeout, secs(1800));
        assert_eq!(env.subscription_backoff_max, secs(2));
        assert_eq!(env.auth_token.as_deref(), Some("jwt.token.here"));
        assert_eq!(env.sandbox.as_deref(), Some("/var/lib/mesos/sandbox"));
        assert!(!format!("{env:?}").contains("jwt.token.here"));
    }

    #[test]
    fn endpoint_falls_back_to_the_pid_address() {
        let env = ExecutorEnv::from_map(&vars(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_SLAVE_PID", "slave(1)@192.168.1.2:5051"),
        ]))
        .unwrap();
        assert_eq!(
            env.endpoint_url,
            "http://192.168.1.2:5051/slave(1)/api/v1/executor"
        );
    }

    #[test]
    fn missing_and_invalid_variables() {
        assert_eq!(
            ExecutorEnv::from_map(&vars(&[("MESOS_EXECUTOR_ID", "ex")])),
            Err(EnvError::Missing("MESOS_FRAMEWORK_ID"))
        );
        assert_eq!(
            ExecutorEnv::from_map(&vars(&[
                ("MESOS_FRAMEWORK_ID", "fw"),
                ("MESOS_EXECUTOR_ID", " ")
            ])),
            Err(EnvError::Missing("MESOS_EXECUTOR_ID"))
        );
        assert_eq!(
            ExecutorEnv::from_map(&vars(&[
                ("MESOS_FRAMEWORK_ID", "fw"),
                ("MESOS_EXECUTOR_ID", "ex")
            ])),
            Err(EnvError::Missing("MESOS_AGENT_ENDPOINT"))
        );
        let base = [
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_AGENT_ENDPOINT", "h:5051"),
        ];
        for (var, value) in [
            ("MESOS_SLAVE_PID", "no-at-sign"),
            ("MESOS_SLAVE_PID", "@h:1"),
            ("MESOS_CHECKPOINT", "yes"),
            ("MESOS_RECOVERY_TIMEOUT", "15 minutes"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2"),
        ] {
            let mut v = vars(&base);
            v.insert(var.to_owned(), value.to_owned());
            match ExecutorEnv::from_map(&v) {
                Err(EnvError::Invalid { var: got, .. }) => assert_eq!(got, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn pids() {
        assert_eq!(
            parse_pid("slave(1)@127.0.0.1:5050"),
            Some(("slave(1)", "127.0.0.1:5050"))
        );
        assert_eq!(parse_pid("slave(1)"), None);
        assert_eq!(parse_pid("a/b@h:1"), None);
    }
}
