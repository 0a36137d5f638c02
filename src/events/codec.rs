//! The binary encoding of everything the journal stores.
//!
//! One `encode`/`decode` pair hides the serialization library, so it can be
//! swapped without touching callers. Each encoded value starts with the schema
//! version (u16, big endian) it was written with.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Envelope, SCHEMA_VERSION};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("record is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("record has schema version {found}, this build reads up to {supported}")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("record does not decode: {0}")]
    Malformed(String),
    #[error("record has {0} trailing bytes")]
    TrailingBytes(usize),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` with the current schema version in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = SCHEMA_VERSION.to_be_bytes().to_vec();
    // Serializing our own plain data types into a Vec cannot fail.
    let body =
        bincode::serde::encode_to_vec(value, config()).expect("plain data types always encode");
    out.extend_from_slice(&body);
    out
}

/// Decodes a value written by [`encode`] with this or an older schema version.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (version, body) = split_version(bytes)?;
    if version > SCHEMA_VERSION || version == 0 {
        return Err(CodecError::UnsupportedVersion {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if read != body.len() {
        return Err(CodecError::TrailingBytes(body.len() - read));
    }
    Ok(value)
}

/// The schema version `bytes` were written with, for readers that decode
/// an older shape of a type themselves.
pub fn version_of(bytes: &[u8]) -> Result<u16, CodecError> {
    split_version(bytes).map(|(version, _)| version)
}

/// The length [`encode`] would give `value`, without building it.
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    // Counting bytes cannot fail, as encoding into a Vec cannot.
    bincode::serde::encode_into_writer(value, &mut size, config())
        .expect("plain data types always encode");
    2 + size.bytes_written
}

fn split_version(bytes: &[u8]) -> Result<(u16, &[u8]), CodecError> {
    match bytes {
        [a, b, body @ ..] => Ok((u16::from_be_bytes([*a, *b]), body)),
        _ => Err(CodecError::Truncated(bytes.len())),
    }
}

pub fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    encode(envelope)
}

pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, CodecError> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Actor, ConfigKind, Event, TaskState};

    fn sample() -> Vec<Envelope> {
        vec![
            Envelope {
                seq: 1,
                at: 1_700_000_000_000,
                actor: Actor::Api("alice".into()),
                event: Event::ConfigCreated {
                    name: "mesos/logstash:0.0.6".into(),
                    kind: ConfigKind::Docker,
                    input: "input { file { docker-path => \"/var/log/x.log\" } }".into(),
                },
            },
            Envelope {
                seq: 2,
                at: 1_700_000_000_001,
                actor: Actor::Executor("agent-1".into()),
                event: Event::TaskStateChanged {
                    task_id: "t".into(),
                    agent_id: "agent-1".into(),
                    state: TaskState::Running,
                    reason: None,
                    message: Some("ünïcode ✓".into()),
                    source: None,
                },
            },
        ]
    }

    #[test]
    fn envelopes_round_trip() {
        for env in sample() {
            let bytes = encode_envelope(&env);
            assert_eq!(&bytes[..2], &SCHEMA_VERSION.to_be_bytes());
            assert_eq!(version_of(&bytes), Ok(SCHEMA_VERSION));
            assert_eq!(encoded_len(&env), bytes.len());
            assert_eq!(decode_envelope(&bytes).unwrap(), env);
        }
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let bytes = encode_envelope(&sample()[0]);
        assert_eq!(decode_envelope(&[]), Err(CodecError::Truncated(0)));
        assert_eq!(decode_envelope(&bytes[..1]), Err(CodecError::Truncated(1)));
        for cut in 2..bytes.len() {
            assert!(decode_envelope(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut newer = bytes.clone();
        newer[..2].copy_from_slice(&(SCHEMA_VERSION + 1).to_be_bytes());
        assert!(matches!(
            decode_envelope(&newer),
            Err(CodecError::UnsupportedVersion { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_envelope(&longer), Err(CodecError::TrailingBytes(1)));
    }
}
