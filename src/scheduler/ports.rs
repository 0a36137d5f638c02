//! Service discovery for network inputs on the Mesos side (pure): whether an
//! offer holds the declared ports ([`crate::state::ports`]), the port
//! resources and the `DiscoveryInfo` of the executor's task.

use crate::mesos::proto::v1::{DiscoveryInfo, Port, Ports, Resource, discovery_info, value};
pub use crate::state::ports::{Declared, declared, launch_fingerprint, numbers};

use super::offers::{self, usable_by};

/// The ports of `wanted` that no usable `ports` range of the offer holds.
pub fn missing(resources: &[offers::Resource], wanted: &[u16], role: &str) -> Vec<u16> {
    wanted
        .iter()
        .copied()
        .filter(|p| {
            !resources.iter().any(|r| {
                r.name == "ports"
                    && usable_by(r, role)
                    && r.ranges
                        .iter()
                        .any(|(b, e)| *b <= u64::from(*p) && u64::from(*p) <= *e)
            })
        })
        .collect()
}

/// Cuts each port from the pool's `ports` entries, keeping the entry's
/// role, reservation and allocation fields; `None` names a port not there.
pub fn take_ports(pool: &mut [Resource], wanted: &[u16]) -> Result<Vec<Resource>, u16> {
    let mut taken = Vec::new();
    for &port in wanted {
        let p = u64::from(port);
        let entry = pool
            .iter_mut()
            .filter(|r| r.name == "ports")
            .find(|r| {
                r.ranges
                    .as_ref()
                    .is_some_and(|rs| rs.range.iter().any(|x| x.begin <= p && p <= x.end))
            })
            .ok_or(port)?;
        let ranges = entry.ranges.get_or_insert_with(Default::default);
        let mut rest = Vec::new();
        for x in &ranges.range {
            if x.begin <= p && p <= x.end {
                if x.begin < p {
                    rest.push(value::Range {
                        begin: x.begin,
                        end: p - 1,
                    });
                }
                if p < x.end {
                    rest.push(value::Range {
                        begin: p + 1,
                        end: x.end,
                    });
                }
            } else {
                rest.push(*x);
            }
        }
        ranges.range = rest;
        let mut piece = entry.clone();
        piece.ranges = Some(value::Ranges {
            range: vec![value::Range { begin: p, end: p }],
        });
        taken.push(piece);
    }
    Ok(taken)
}

/// What Mesos-DNS and other readers of the master's state publish: the
/// framework's name and every port with its number, protocol and, as its
/// name, the config that listens on it.
pub fn discovery(declared: &[Declared]) -> DiscoveryInfo {
    DiscoveryInfo {
        visibility: discovery_info::Visibility::External as i32,
        name: Some("logstash-mesos".into()),
        ports: Some(Ports {
            ports: declared
                .iter()
                .map(|d| Port {
                    number: u32::from(d.port),
                    name: Some(d.config.clone()),
                    protocol: Some(d.protocol.into()),
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConfigKind;
    use crate::events::messages::{ConfigEntry, ConfigSet};

    fn set(inputs: &[(&str, &str)]) -> ConfigSet {
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

    fn ports_entry(ranges: &[(u64, u64)], role: Option<&str>) -> Resource {
        Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(value::Ranges {
                range: ranges
                    .iter()
                    .map(|(b, e)| value::Range { begin: *b, end: *e })
                    .collect(),
            }),
            role: role.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn configs_declare_ports_and_offers_must_hold_them() {
        let configs = set(&[
            ("app", "input { tcp { port => 31555 } }"),
            (
                "logs",
                "input { syslog { port => 31514 } file { docker-path => \"/a\" } }",
            ),
        ]);
        let d = declared(&configs);
        let view = |r: &Resource| offers::Resource {
            name: r.name.clone(),
            reserved_for: None,
            allocated_to: None,
            scalar: None,
            revocable: false,
            ranges: r
                .ranges
                .iter()
                .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end)))
                .collect(),
        };
        let offered = [view(&ports_entry(&[(31000, 31520)], None))];
        assert_eq!(missing(&offered, &numbers(&d), "logging"), [31555]);
        let offered = [view(&ports_entry(&[(31000, 32000)], None))];
        assert!(missing(&offered, &numbers(&d), "logging").is_empty());
    }

    #[test]
    fn ports_are_cut_from_their_ranges() {
        let mut pool = vec![ports_entry(
            &[(31000, 31002), (31555, 31555)],
            Some("logging"),
        )];
        let taken = take_ports(&mut pool, &[31001, 31555]).unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].role.as_deref(), Some("logging"));
        let single = |r: &Resource| {
            r.ranges.as_ref().map(|rs| {
                rs.range
                    .iter()
                    .map(|x| (x.begin, x.end))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(single(&taken[0]), Some(vec![(31001, 31001)]));
        assert_eq!(single(&taken[1]), Some(vec![(31555, 31555)]));
        assert_eq!(single(&pool[0]), Some(vec![(31000, 31000), (31002, 31002)]));
        assert_eq!(take_ports(&mut pool, &[31001]), Err(31001));
    }

    #[test]
    fn discovery_names_every_port() {
        let d = declared(&set(&[("app", "input { tcp { port => 31555 } }")]));
        let info = discovery(&d);
        let ports = info.ports.unwrap().ports;
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].number, 31555);
        assert_eq!(ports[0].name.as_deref(), Some("app"));
        assert_eq!(ports[0].protocol.as_deref(), Some("tcp"));
    }
}
