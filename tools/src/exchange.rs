//! The export format: one event per line, as JSON in the shape of
//! `GET /api/events` items, so an export, an API page and `dump --format
//! json` read the same, and an import gives back the exact history.

use std::io::{BufRead, Write};

use logstash_mesos::events::Envelope;
use logstash_mesos::views::EventJson;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("line {line}: {message}")]
    BadLine { line: u64, message: String },
    #[error("reading the export: {0}")]
    Read(std::io::Error),
    #[error("writing: {0}")]
    Write(std::io::Error),
}

/// Writes one event as a JSON line.
pub fn write_event(out: &mut impl Write, env: &Envelope) -> Result<(), ExchangeError> {
    serde_json::to_writer(&mut *out, &EventJson::from(env))
        .map_err(|e| ExchangeError::Write(e.into()))?;
    out.write_all(b"\n").map_err(ExchangeError::Write)
}

/// Reads JSON lines back into envelopes; blank lines are skipped. Each
/// item says which line it came from, for errors further on.
pub fn read_events(
    input: impl BufRead,
) -> impl Iterator<Item = Result<(u64, Envelope), ExchangeError>> {
    input
        .lines()
        .zip(1u64..)
        .filter(|(line, _)| !matches!(line, Ok(l) if l.trim().is_empty()))
        .map(|(line, number)| {
            let line = line.map_err(ExchangeError::Read)?;
            let bad = |message: String| ExchangeError::BadLine {
                line: number,
                message,
            };
            let json: EventJson =
                serde_json::from_str(&line).map_err(|e| bad(format!("not an event: {e}")))?;
            let env = json
                .to_envelope()
                .map_err(|e| bad(format!("event {}: {e}", json.seq)))?;
            Ok((number, env))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstash_mesos::events::{Actor, ConfigKind, Event};

    #[test]
    fn lines_round_trip_and_bad_lines_are_named() {
        let events = vec![
            Envelope {
                seq: 1,
                at: 5,
                actor: Actor::Api("a b".into()),
                event: Event::ConfigCreated {
                    name: "x/y:z ü".into(),
                    kind: ConfigKind::Host,
                    input: "line\n\"quoted\"\n".into(),
                },
            },
            Envelope {
                seq: 2,
                at: 6,
                actor: Actor::ConfigDir,
                event: Event::ConfigDeleted {
                    name: "x/y:z ü".into(),
                },
            },
        ];
        let mut out = Vec::new();
        for env in &events {
            write_event(&mut out, env).unwrap();
        }
        out.extend_from_slice(b"\n{\"seq\": 3}\n");
        let read: Vec<_> = read_events(out.as_slice()).collect();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].as_ref().unwrap(), &(1, events[0].clone()));
        assert_eq!(read[1].as_ref().unwrap(), &(2, events[1].clone()));
        let err = read[2].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("line 4: not an event"), "{err}");
    }
}
