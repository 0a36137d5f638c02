//! Reading Logstash's file-input sincedb, to know how much of a spool
//! segment Logstash has already read before the budget deletes it.
//!
//! Format (logstash-input-file 4.x), one line per file:
//! `inode major minor position [last_active [path]]`, space separated; older
//! versions wrote only the first four fields. The inode field may be a
//! Windows-style triple; such lines never match a Linux inode and are
//! skipped.

use std::collections::HashMap;

/// A file's identity as Logstash records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub inode: u64,
    pub major: u64,
    pub minor: u64,
}

impl FileId {
    /// From `stat` results, splitting `st_dev` like glibc's
    /// `major()`/`minor()` (which is what Ruby's `File::Stat` reports).
    pub fn from_stat(inode: u64, dev: u64) -> Self {
        FileId {
            inode,
            major: ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
            minor: (dev & 0xff) | ((dev >> 12) & !0xff),
        }
    }
}

/// Read positions by file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sincedb {
    positions: HashMap<FileId, u64>,
}

impl Sincedb {
    /// Parses the whole file; malformed lines are skipped, since a
    /// half-written sincedb must not stop budget enforcement.
    pub fn parse(text: &str) -> Self {
        let mut positions = HashMap::new();
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let parsed = (|| {
                let inode = fields.next()?.parse().ok()?;
                let major = fields.next()?.parse().ok()?;
                let minor = fields.next()?.parse().ok()?;
                let position = fields.next()?.parse().ok()?;
                Some((
                    FileId {
                        inode,
                        major,
                        minor,
                    },
                    position,
                ))
            })();
            if let Some((id, position)) = parsed {
                positions.insert(id, position);
            }
        }
        Sincedb { positions }
    }

    /// How far Logstash read the file, if it knows it.
    pub fn position(&self, id: FileId) -> Option<u64> {
        self.positions.get(&id).copied()
    }

    /// Bytes of a file of `size` bytes that Logstash has not read: all of
    /// them when it never saw the file.
    pub fn unread(&self, id: FileId, size: u64) -> u64 {
        size.saturating_sub(self.position(id).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_old_and_new_formats() {
        let db = Sincedb::parse(
            "1234 0 2049 100 1732450000.123 /spool/a/spool.log\n\
             99 8 1 7\n\
             garbage line\n\
             1-2-3 0 0 5 1.0 /windows\n",
        );
        let a = FileId {
            inode: 1234,
            major: 0,
            minor: 2049,
        };
        assert_eq!(db.position(a), Some(100));
        assert_eq!(db.unread(a, 150), 50);
        assert_eq!(db.unread(a, 80), 0);
        let b = FileId {
            inode: 99,
            major: 8,
            minor: 1,
        };
        assert_eq!(db.position(b), Some(7));
        let unknown = FileId {
            inode: 5,
            major: 0,
            minor: 0,
        };
        assert_eq!(db.unread(unknown, 42), 42);
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        // makedev(8, 1) and makedev(259, 65539)
        assert_eq!(
            FileId::from_stat(1, 0x801),
            FileId {
                inode: 1,
                major: 8,
                minor: 1
            }
        );
        let dev: u64 = (259 << 8) | 3 | ((65539 & !0xff) << 12);
        let id = FileId::from_stat(1, dev);
        assert_eq!((id.major, id.minor), (259, 65539));
    }
}
