//! The local files Logstash reads: one directory of segments per stream.
//!
//! The seed truncated its mirror file in place at 5 MB, so Logstash lost
//! whatever it had not read yet. Here the live segment (`spool.log`) is
//! renamed into a numbered segment (`spool.log.0000000001`, ...) when it
//! reaches the size limit and a new live segment starts; Logstash's file
//! input follows files by inode, so a rename loses nothing. Segments are only
//! deleted when Logstash has read them completely (per its sincedb), or,
//! oldest first, when the spool exceeds its disk budget; then every unread
//! byte deleted is counted as dropped.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::checkpoint::{SpoolMark, sync_dir};
use super::layout::{self, LIVE_SEGMENT};
use super::lines::count_lines;
use super::sincedb::{FileId, Sincedb};

/// Bytes gathered in memory before one `write(2)`; allocated on first use,
/// so idle streams cost no buffer.
const WRITE_BUFFER: usize = 64 * 1024;

/// Appends one stream's lines to its live segment and rotates it.
#[derive(Debug)]
pub struct SpoolWriter {
    dir: PathBuf,
    file: File,
    inode: u64,
    /// Bytes in the live segment, including those still in `buf`.
    len: u64,
    /// Bytes of the live segment known to be written in full. A failed
    /// write (disk full, file size limit) is cut back to this length before
    /// anything else is written, so a retry neither repeats nor tears a line.
    good: u64,
    buf: Vec<u8>,
    segment_size: u64,
}

impl SpoolWriter {
    /// Opens (or creates) the live segment in `dir` for appending; existing
    /// content is kept, never truncated, because Logstash may not have read
    /// it yet.
    pub fn open(dir: &Path, segment_size: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let (file, inode, len) = open_live(dir)?;
        Ok(SpoolWriter {
            dir: dir.to_owned(),
            file,
            inode,
            len,
            good: len,
            buf: Vec::new(),
            segment_size: segment_size.max(1),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends bytes (buffered; durable only after [`Self::sync`]). On an
    /// error nothing of `bytes` is in the spool, and what was buffered
    /// before stays buffered for the next try.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > WRITE_BUFFER {
            self.flush_buf()?;
        }
        if bytes.len() >= WRITE_BUFFER {
            self.append(bytes)?;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes appended but not yet handed to the kernel.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Hands buffered bytes to the kernel (no fsync), so Logstash sees the
    /// lines of a stream that went quiet without waiting for the next sync.
    /// On an error the buffer is kept and the file cut back, so the next
    /// try writes it once.
    pub fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let mut buf = std::mem::take(&mut self.buf);
            let result = self.append(&buf);
            if result.is_ok() {
                buf.clear();
            }
            self.buf = buf;
            result?;
        }
        Ok(())
    }

    /// Writes `bytes` at the end of the live segment, or, if that fails
    /// part-way, cuts the segment back to its last good length.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.good += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // O_APPEND: the next write lands at the cut.
                if let Err(cut) = self.file.set_len(self.good) {
                    tracing::error!(
                        dir = %self.dir.display(),
                        error = %cut,
                        "cannot cut the spool back after a failed write"
                    );
                }
                Err(e)
            }
        }
    }

    /// Writes out and fsyncs everything appended so far, then rotates the
    /// live segment if it reached the size limit. Returns where the spool
    /// now ends, for the checkpoint.
    pub fn sync(&mut self) -> io::Result<SpoolMark> {
        self.flush_buf()?;
        self.file.sync_data()?;
        if self.len >= self.segment_size {
            self.rotate()?;
        }
        Ok(self.mark())
    }

    /// Where the spool ends now (what is written, durable or not).
    pub fn mark(&self) -> SpoolMark {
        SpoolMark {
            inode: self.inode,
            len: self.len,
        }
    }

    /// Renames the live segment to the next number and starts a new one.
    /// A no-op on an empty live segment.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        if self.len == 0 {
            return Ok(());
        }
        self.file.sync_data()?;
        let next = rotated_segments(&self.dir)?
            .last()
            .map_or(1, |(seq, _)| seq + 1);
        fs::rename(
            self.dir.join(LIVE_SEGMENT),
            self.dir.join(layout::rotated_name(next)),
        )?;
        let (file, inode, len) = open_live(&self.dir)?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.inode = inode;
        self.len = len;
        self.good = len;
        Ok(())
    }
}

fn open_live(dir: &Path) -> io::Result<(File, u64, u64)> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LIVE_SEGMENT))?;
    let meta = file.metadata()?;
    Ok((file, meta.ino(), meta.len()))
}

/// The rotated segments of a stream directory, oldest (lowest number) first.
fn rotated_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(seq) = entry.file_name().to_str().and_then(layout::rotated_seq) {
            segments.push((seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Bytes and lines in a stream's spool after `mark`: what was written after
/// the last checkpoint and will be written again when the stream resumes.
/// Zero when the marked segment is gone (deleted by the budget) or unknown.
pub fn written_after(dir: &Path, mark: SpoolMark) -> io::Result<(u64, u64)> {
    if mark.inode == 0 || !dir.exists() {
        return Ok((0, 0));
    }
    let mut files: Vec<PathBuf> = rotated_segments(dir)?.into_iter().map(|(_, p)| p).collect();
    files.push(dir.join(LIVE_SEGMENT));
    let Some(start) = files.iter().position(|p| {
        fs::metadata(p)
            .map(|m| m.ino() == mark.inode)
            .unwrap_or(false)
    }) else {
        return Ok((0, 0));
    };
    let (mut bytes, mut lines) = (0, 0);
    for (i, path) in files[start..].iter().enumerate() {
        let Ok(mut file) = File::open(path) else {
            continue;
        };
        if i == 0 {
            file.seek(SeekFrom::Start(mark.len))?;
        }
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines += count_lines(&chunk[..n]);
        }
    }
    Ok((bytes, lines))
}

/// What one budget pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BudgetPass {
    /// Unread bytes deleted, by stream id (spool directory name).
    pub dropped: HashMap<String, u64>,
    /// Segments deleted because Logstash had read all of them.
    pub collected: u64,
    /// Bytes in the spool after the pass.
    pub total: u64,
    /// The spool is still over budget: only live segments are left, and they
    /// are never deleted (`--spool-budget` is below streams × segment size).
    pub over_budget: bool,
}

/// Enforces the disk budget over all streams under `root`.
///
/// First deletes rotated segments Logstash has read completely; then, while
/// the total is over `budget`, the oldest rotated segment across all streams
/// (by modification time, then number), counting its unread bytes as dropped.
/// Sincedbs are read from `sincedb_dir/<stream id>`; without one, no byte of
/// that stream counts as read. Empty directories of streams not in `active`
/// are removed.
pub fn enforce_budget(
    root: &Path,
    sincedb_dir: &Path,
    budget: u64,
    active: &HashSet<String>,
) -> io::Result<BudgetPass> {
    struct Segment {
        stream: String,
        path: PathBuf,
        seq: u64,
        size: u64,
        id: FileId,
        modified: SystemTime,
    }
    let mut pass = BudgetPass::default();
    let mut candidates = Vec::new();
    let mut sincedbs: HashMap<String, Sincedb> = HashMap::new();
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(pass),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Some(stream) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let sincedb = fs::read_to_string(sincedb_dir.join(&stream))
            .map(|text| Sincedb::parse(&text))
            .unwrap_or_default();
        let mut files = 0;
        for file in fs::read_dir(entry.path())? {
            let file = file?;
            let Ok(meta) = file.metadata() else { continue };
            files += 1;
            let name = file.file_name();
            let Some(seq) = name.to_str().and_then(layout::rotated_seq) else {
                pass.total += meta.len();
                continue;
            };
            let id = FileId::from_stat(meta.ino(), meta.dev());
            if meta.len() > 0 && sincedb.unread(id, meta.len()) == 0 {
                fs::remove_file(file.path())?;
                pass.collected += 1;
                files -= 1;
                continue;
            }
            pass.total += meta.len();
            candidates.push(Segment {
                stream: stream.clone(),
                path: file.path(),
                seq,
                size: meta.len(),
                id,
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
        if files == 0 && !active.contains(&stream) {
            let _ = fs::remove_dir(entry.path());
        }
        sincedbs.insert(stream, sincedb);
    }
    candidates.sort_by_key(|s| (s.modified, s.seq));
    for segment in candidates {
        if pass.total <= budget {
            break;
        }
        let unread = sincedbs
            .get(&segment.stream)
            .map_or(segment.size, |db| db.unread(segment.id, segment.size));
        fs::remove_file(&segment.path)?;
        pass.total -= segment.size;
        if unread > 0 {
            *pass.dropped.entry(segment.stream).or_default() += unread;
        }
    }
    pass.over_budget = pass.total > budget;
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn rotates_by_rename_and_never_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("s");
        let mut w = SpoolWriter::open(&stream, 10).unwrap();
        w.write(b"12345\n").unwrap();
        let first = w.sync().unwrap();
        assert_eq!(first.len, 6);
        w.write(b"67890\n").unwrap();
        let second = w.sync().unwrap();
        assert_eq!(second.len, 0, "rotated at 12 >= 10 bytes");
        assert_ne!(second.inode, first.inode);
        assert_eq!(names(&stream), ["spool.log", "spool.log.0000000001"]);
        assert_eq!(
            fs::read(stream.join("spool.log.0000000001")).unwrap(),
            b"12345\n67890\n"
        );
        // The rotated segment keeps the inode Logstash knows.
        assert_eq!(
            fs::metadata(stream.join("spool.log.0000000001"))
                .unwrap()
                .ino(),
            first.inode
        );
        w.write(b"abc\n").unwrap();
        w.sync().unwrap();
        drop(w);
        // Reopening appends.
        let mut w = SpoolWriter::open(&stream, 10).unwrap();
        w.write(b"def\n").unwrap();
        w.sync().unwrap();
        assert_eq!(fs::read(stream.join("spool.log")).unwrap(), b"abc\ndef\n");
    }

    #[test]
    fn counts_what_was_written_after_a_mark() {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("s");
        let mut w = SpoolWriter::open(&stream, 8).unwrap();
        w.write(b"a\nb\n").unwrap();
        let mark = w.sync().unwrap();
        assert_eq!(written_after(&stream, mark).unwrap(), (0, 0));
        w.write(b"c\nd\ne\n").unwrap();
        w.sync().unwrap(); // rotates: the mark's segment is now numbered
        w.write(b"f\n").unwrap();
        w.sync().unwrap();
        assert_eq!(written_after(&stream, mark).unwrap(), (8, 4));
        assert_eq!(
            written_after(&stream, SpoolMark::default()).unwrap(),
            (0, 0)
        );
    }

    #[test]
    fn budget_deletes_oldest_rotated_first_and_counts_unread_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spool");
        let sincedbs = dir.path().join("sincedb");
        fs::create_dir_all(&sincedbs).unwrap();
        let mut a = SpoolWriter::open(&root.join("a"), 10).unwrap();
        let mut b = SpoolWriter::open(&root.join("b"), 10).unwrap();
        for w in [&mut a, &mut b] {
            for _ in 0..3 {
                w.write(b"0123456789\n").unwrap();
                w.sync().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        // a has 3 rotated segments of 11 bytes, b too; Logstash read 4 bytes
        // of a's oldest segment.
        let a1 = fs::metadata(root.join("a").join(layout::rotated_name(1))).unwrap();
        let id = FileId::from_stat(a1.ino(), a1.dev());
        fs::write(
            sincedbs.join("a"),
            format!("{} {} {} 4 1.0 /x\n", id.inode, id.major, id.minor),
        )
        .unwrap();
        let active: HashSet<String> = ["a".into(), "b".into()].into();
        let pass = enforce_budget(&root, &sincedbs, 40, &active).unwrap();
        // 66 bytes, budget 40: delete a.1 (7 unread), a.2 (11), a.3 (11) → 37.
        assert_eq!(pass.total, 33);
        assert_eq!(pass.dropped.get("a"), Some(&29));
        assert_eq!(pass.dropped.get("b"), None);
        assert!(!pass.over_budget);
        assert_eq!(names(&root.join("a")), ["spool.log"]);
        // Fully read segments are collected without counting a drop.
        let b1 = fs::metadata(root.join("b").join(layout::rotated_name(1))).unwrap();
        let id = FileId::from_stat(b1.ino(), b1.dev());
        fs::write(
            sincedbs.join("b"),
            format!("{} {} {} 11\n", id.inode, id.major, id.minor),
        )
        .unwrap();
        let pass = enforce_budget(&root, &sincedbs, 1000, &active).unwrap();
        assert_eq!(pass.collected, 1);
        assert!(pass.dropped.is_empty());
        // A budget below the live segments cannot be met.
        b.write(b"x\n").unwrap();
        b.sync().unwrap();
        let pass = enforce_budget(&root, &sincedbs, 0, &active).unwrap();
        assert!(pass.over_budget);
        assert_eq!(pass.dropped.get("b"), Some(&22));
    }

    #[test]
    fn empty_directories_of_inactive_streams_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spool");
        fs::create_dir_all(root.join("gone")).unwrap();
        fs::create_dir_all(root.join("live")).unwrap();
        let active: HashSet<String> = ["live".into()].into();
        enforce_budget(&root, dir.path(), 10, &active).unwrap();
        assert_eq!(names(&root), ["live"]);
    }
}
