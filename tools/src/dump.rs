//! Events as readable text, one per line.

use logstash_mesos::events::Envelope;
use logstash_mesos::views::EventJson;
use serde_json::Value;

/// Longest value shown in full without `--full`.
const SHORT: usize = 60;

/// `seq  time  actor  Type  field=value ...`; long values are shortened
/// unless `full`, and line breaks are shown as `\n`.
pub fn text_line(env: &Envelope, full: bool) -> String {
    let json = EventJson::from(env);
    let mut line = format!(
        "{:>8}  {}  {}  {}",
        json.seq, json.at, json.actor, json.event_type
    );
    if let Value::Object(fields) = &json.data {
        // The config name first: it is what people scan for.
        let mut fields: Vec<(&String, &Value)> = fields.iter().collect();
        fields.sort_by_key(|(key, _)| *key != "name");
        for (key, value) in fields {
            if value.is_null() {
                continue;
            }
            line.push(' ');
            line.push_str(key);
            line.push('=');
            line.push_str(&value_text(value, full));
        }
    }
    line
}

fn value_text(value: &Value, full: bool) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let chars = text.chars().count();
    if full || chars <= SHORT {
        text
    } else {
        let kept: String = text.chars().take(SHORT).collect();
        format!("{kept}…({chars} chars)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstash_mesos::events::{Actor, ConfigKind, Event};

    #[test]
    fn one_line_per_event_with_long_text_shortened() {
        let env = Envelope {
            seq: 7,
            at: 0,
            actor: Actor::Api("alice".into()),
            event: Event::ConfigCreated {
                name: "nginx".into(),
                kind: ConfigKind::Docker,
                input: format!("input {{\n{}\n}}", "x".repeat(100)),
            },
        };
        let short = text_line(&env, false);
        assert!(short.starts_with("       7  1970-01-01T00:00:00.000Z  api:alice  ConfigCreated"));
        assert!(short.contains("name=\"nginx\""), "{short}");
        assert!(short.contains(" chars)"), "{short}");
        assert!(!short.contains('\n'));
        let full = text_line(&env, true);
        assert!(full.contains(&"x".repeat(100)));
    }
}
