//! Where a stream's files live, derived from its key alone, so a restarted
//! executor finds its spool, checkpoint and sincedb again.

use std::path::{Path, PathBuf};

use super::matching::StreamKey;

/// A file-name-safe, stable, unique name for a stream: a readable prefix
/// (container id, path) and a hash of the exact key, so two paths that
/// sanitize alike still get different names.
pub fn stream_id(key: &StreamKey) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a 64
    for b in key
        .container_id
        .bytes()
        .chain(std::iter::once(0))
        .chain(key.path.bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let container: String = key.container_id.chars().take(12).collect();
    let path: String = key
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = path.trim_matches('-');
    let path: String = path
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}-{}-{hash:016x}", sanitize(&container), path)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The file names inside a stream's spool directory.
pub const LIVE_SEGMENT: &str = "spool.log";

/// The spool directory of a stream.
pub fn spool_dir(spool_root: &Path, key: &StreamKey) -> PathBuf {
    spool_root.join(stream_id(key))
}

/// The glob that covers all of a stream's segments, live and rotated: the
/// `path =>` of the Logstash file input that reads it.
pub fn spool_glob(spool_root: &Path, key: &StreamKey) -> String {
    format!("{}/{LIVE_SEGMENT}*", spool_dir(spool_root, key).display())
}

/// The name of rotated segment `seq`; zero-padded so names sort in order.
pub fn rotated_name(seq: u64) -> String {
    format!("{LIVE_SEGMENT}.{seq:010}")
}

/// The sequence number of a rotated segment's file name.
pub fn rotated_seq(name: &str) -> Option<u64> {
    name.strip_prefix(LIVE_SEGMENT)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

/// The checkpoint file of a stream.
pub fn checkpoint_path(state_dir: &Path, key: &StreamKey) -> PathBuf {
    state_dir
        .join("offsets")
        .join(format!("{}.json", stream_id(key)))
}

/// The sincedb the rendered Logstash config gives the stream's file input
/// (`sincedb_path =>`), read back to learn what Logstash has consumed.
pub fn sincedb_path(state_dir: &Path, key: &StreamKey) -> PathBuf {
    state_dir.join("sincedb").join(stream_id(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str, p: &str) -> StreamKey {
        StreamKey {
            container_id: c.into(),
            path: p.into(),
        }
    }

    #[test]
    fn ids_are_stable_safe_and_distinct() {
        let a = stream_id(&key("0123456789abcdef", "/var/log/app.log"));
        assert!(a.starts_with("0123456789ab-var-log-app-log-"), "{a}");
        assert_eq!(a, stream_id(&key("0123456789abcdef", "/var/log/app.log")));
        let evil = stream_id(&key("c", "\"; touch /pwned; \"/../$(x)"));
        assert!(
            evil.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{evil}"
        );
        assert_ne!(
            stream_id(&key("c", "/var/log/a b")),
            stream_id(&key("c", "/var/log/a-b"))
        );
        assert_ne!(stream_id(&key("c", "/a")), stream_id(&key("d", "/a")));
    }

    #[test]
    fn rotated_names_round_trip_and_sort() {
        assert_eq!(rotated_seq(&rotated_name(42)), Some(42));
        assert_eq!(rotated_seq(LIVE_SEGMENT), None);
        assert_eq!(rotated_seq("spool.log.x"), None);
        assert!(rotated_name(9) < rotated_name(10));
        let glob = spool_glob(Path::new("/s"), &key("c", "/a"));
        assert!(glob.starts_with("/s/c-a-") && glob.ends_with("/spool.log*"));
    }
}
