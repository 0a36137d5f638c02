//! The network ports a config's inputs listen on (`port => N`), so the
//! scheduler can reserve them from Mesos and publish where each config
//! listens, and two configs cannot claim one port.

use super::ast::{BranchOrPlugin, Config, SectionKind, Span, Value};

/// One port an input listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenPort {
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The input plugin's name, also the port's name in `DiscoveryInfo`.
    pub plugin: String,
    /// The `port => N` setting.
    pub span: Span,
}

/// The protocols an input listens with on its `port`, as the plugins do
/// by default (Logstash 8 plugin docs): `syslog` binds both, `udp` and
/// `gelf` (with `use_udp` true, `use_tcp` false by default) UDP, the rest
/// (`tcp`, `beats`, `http`, `elastic_agent`, `lumberjack`, `graphite`,
/// `logstash`, ...) TCP.
fn protocols(plugin: &str) -> &'static [&'static str] {
    match plugin {
        "syslog" => &["tcp", "udp"],
        "udp" | "gelf" => &["udp"],
        _ => &["tcp"],
    }
}

/// Every port the input sections listen on, in source order. Only a
/// whole-number `port` counts (a string or a range names no single port;
/// `validate` refuses those).
pub fn listen_ports(config: &Config) -> Vec<ListenPort> {
    fn body(items: &[BranchOrPlugin], out: &mut Vec<ListenPort>) {
        for item in items {
            match item {
                BranchOrPlugin::Plugin(p) => {
                    for a in p.attributes.iter().filter(|a| a.name == "port") {
                        if let Value::Number(n) = &a.value
                            && let Ok(port) = n.text.parse::<u16>()
                            && port > 0
                        {
                            for protocol in protocols(&p.name) {
                                out.push(ListenPort {
                                    port,
                                    protocol,
                                    plugin: p.name.clone(),
                                    span: a.span,
                                });
                            }
                        }
                    }
                }
                BranchOrPlugin::Branch(b) => {
                    for block in std::iter::once(&b.if_block).chain(&b.else_ifs) {
                        body(&block.body, out);
                    }
                    if let Some(e) = &b.else_block {
                        body(&e.body, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for section in config
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Input)
    {
        body(&section.body, &mut out);
    }
    out
}

/// A `port` setting of an input that names no port: not a whole number in
/// 1..=65535. Logstash refuses such a pipeline; the API refuses it first.
pub fn bad_port(config: &Config) -> Option<Span> {
    fn body(items: &[BranchOrPlugin]) -> Option<Span> {
        items.iter().find_map(|item| match item {
            BranchOrPlugin::Plugin(p) => p.attributes.iter().find_map(|a| {
                let ok = matches!(&a.value, Value::Number(n)
                    if n.text.parse::<u16>().is_ok_and(|p| p > 0));
                (a.name == "port" && !ok).then_some(a.value.span())
            }),
            BranchOrPlugin::Branch(b) => std::iter::once(&b.if_block)
                .chain(&b.else_ifs)
                .find_map(|block| body(&block.body))
                .or_else(|| b.else_block.as_ref().and_then(|e| body(&e.body))),
        })
    }
    config
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Input)
        .find_map(|s| body(&s.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logstash::parse;

    fn ports(src: &str) -> Vec<(u16, &'static str, String)> {
        listen_ports(&parse(src).unwrap())
            .into_iter()
            .map(|p| (p.port, p.protocol, p.plugin))
            .collect()
    }

    #[test]
    fn network_inputs_declare_their_ports() {
        assert_eq!(
            ports(
                "input { tcp { port => 31555 } syslog { port => 5514 } if [x] { udp { port => 9999 } } beats { port => 5044 } file { docker-path => \"/a\" } }\nfilter { something { port => 1 } }\noutput { tcp { port => 7000 } }"
            ),
            vec![
                (31555, "tcp", "tcp".to_owned()),
                (5514, "tcp", "syslog".to_owned()),
                (5514, "udp", "syslog".to_owned()),
                (9999, "udp", "udp".to_owned()),
                (5044, "tcp", "beats".to_owned()),
            ]
        );
        assert!(ports("input { stdin { } }").is_empty());
    }

    #[test]
    fn ports_that_name_no_port_are_found() {
        for bad in [
            "input { tcp { port => \"5000\" } }",
            "input { tcp { port => 0 } }",
            "input { tcp { port => 70000 } }",
            "input { tcp { port => 5000.5 } }",
        ] {
            assert!(bad_port(&parse(bad).unwrap()).is_some(), "{bad}");
        }
        assert_eq!(
            bad_port(
                &parse("input { tcp { port => 5000 } }\noutput { x { port => \"a\" } }").unwrap()
            ),
            None
        );
    }
}
