//! The ports the configs listen on (`port =>` of network inputs), pure: what
//! the scheduler reserves from Mesos, what `/api/endpoints` lists, and the
//! part of the launch fingerprint that replaces executors when ports change.

use std::collections::BTreeSet;

use crate::events::messages::ConfigSet;
use crate::logstash;

/// One port a config listens on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Declared {
    pub port: u16,
    pub protocol: &'static str,
    pub config: String,
    pub plugin: String,
}

/// Every port the config set listens on, sorted.
pub fn declared(configs: &ConfigSet) -> Vec<Declared> {
    let mut out: Vec<Declared> = configs
        .configs
        .iter()
        .filter_map(|c| Some((c, logstash::parse(&c.input).ok()?)))
        .flat_map(|(c, parsed)| {
            logstash::ports::listen_ports(&parsed)
                .into_iter()
                .map(|p| Declared {
                    port: p.port,
                    protocol: p.protocol,
                    config: c.name.clone(),
                    plugin: p.plugin,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The distinct port numbers (Mesos' `ports` resource covers TCP and UDP).
pub fn numbers(declared: &[Declared]) -> Vec<u16> {
    let set: BTreeSet<u16> = declared.iter().map(|d| d.port).collect();
    set.into_iter().collect()
}

/// The fingerprint executors are launched with: the settings' own, and,
/// when configs listen on ports, a digest of those (config, port,
/// protocol), so executors holding other ports are replaced one at a time.
pub fn launch_fingerprint(settings_fingerprint: &str, declared: &[Declared]) -> String {
    if declared.is_empty() {
        return settings_fingerprint.to_owned();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for d in declared {
        for byte in format!("{}\0{}\0{}\n", d.config, d.port, d.protocol).bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{settings_fingerprint}+ports-{hash:016x}")
}

impl super::State {
    /// The fingerprint an executor launched now carries: the logged
    /// settings' and the declared ports'; none before settings are logged.
    /// Views compare tasks with it, as the scheduler does.
    pub fn launch_fingerprint(&self) -> Option<String> {
        let declared = declared(&self.config_set());
        self.settings
            .as_ref()
            .map(|s| launch_fingerprint(&s.fingerprint(), &declared))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConfigKind;
    use crate::events::messages::ConfigEntry;

    pub(crate) fn set(inputs: &[(&str, &str)]) -> ConfigSet {
        ConfigSet {
            version: 1,
            configs: inputs
                .iter()
                .map(|(name, input)| ConfigEntry {
                    name: (*name).into(),
                    kind: ConfigKind::Docker,
                    input: (*input).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn configs_declare_ports() {
        let d = declared(&set(&[
            ("app", "input { tcp { port => 31555 } }"),
            (
                "logs",
                "input { syslog { port => 31514 } file { docker-path => \"/a\" } }",
            ),
        ]));
        assert_eq!(
            d.iter().map(|d| (d.port, d.protocol)).collect::<Vec<_>>(),
            [(31514, "tcp"), (31514, "udp"), (31555, "tcp")]
        );
        assert_eq!(numbers(&d), [31514, 31555]);
    }

    #[test]
    fn ports_change_the_fingerprint() {
        let d = declared(&set(&[("app", "input { tcp { port => 31555 } }")]));
        assert_eq!(launch_fingerprint("abc", &[]), "abc");
        let with = launch_fingerprint("abc", &d);
        assert!(with.starts_with("abc+ports-"), "{with}");
        let other = declared(&set(&[("app", "input { tcp { port => 31556 } }")]));
        assert_ne!(with, launch_fingerprint("abc", &other));
    }
}
