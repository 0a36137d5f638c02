//! The executor settings fingerprint: executors launched with other settings
//! are replaced.

use super::ExecutorSettings;
use super::codec;

impl ExecutorSettings {
    /// A short, stable digest of the settings (FNV-1a over their encoding),
    /// so every replica and every build computes the same value for the same
    /// settings.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in codec::encode(self) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ExecutorCommand;

    #[test]
    fn differs_when_any_setting_differs() {
        let base = ExecutorSettings {
            cpus_milli: 200,
            mem_mib: 256,
            disk_mib: 0,
            logstash_heap_mib: 512,
            command: ExecutorCommand::Binary {
                path: "/usr/bin/logstash-mesos".into(),
                uri: None,
            },
        };
        let same = base.clone();
        assert_eq!(base.fingerprint(), same.fingerprint());
        assert_eq!(base.fingerprint().len(), 16);
        let more_mem = ExecutorSettings {
            mem_mib: 512,
            ..base.clone()
        };
        let image = ExecutorSettings {
            command: ExecutorCommand::Image {
                image: "logstash-mesos:1".into(),
            },
            ..base.clone()
        };
        assert_ne!(base.fingerprint(), more_mem.fingerprint());
        assert_ne!(base.fingerprint(), image.fingerprint());
    }
}
