//! The direct reader's decisions for one path, as functions of what was
//! observed: which open file to read, when a file was truncated, when a
//! rotated file is finished and the next one takes over, and which files
//! appeared at the path between two looks.
//!
//! Pure: the session loop (`stream::direct`) opens, stats and reads, and
//! feeds the facts in; nothing here touches a file or a clock.
//!
//! # Files of one path
//!
//! The follower holds every file that has been seen at the path and not yet
//! read to its end, oldest first, each by its open descriptor (so a file
//! renamed or deleted after it was opened is still read to its end). Only
//! the head is read. The head is finished, and the next file takes over,
//! when the head is at its end and either
//!
//! * a newer file was seen holding data *before* the head was found at its
//!   end (a writer that moved on to the new file has written the old one to
//!   its end), and the head has been still for `settle`; or
//! * the head has been still for `quiet` (the writer never wrote the new
//!   file, or several writers share the file); or
//! * the stream is draining (the container stopped: nobody writes any more).
//!
//! Truncation is a head whose size fell below the read position: it is read
//! again from byte 0, and what it held beyond the position at the last look
//! is counted as lost.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// A file's identity while it exists: device and inode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// One file of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub id: FileId,
    /// Bytes of it consumed (read, or skipped by the checkpoint).
    pub pos: u64,
    /// Its size at the last look.
    pub seen: u64,
    /// When its size last changed (or it was first seen).
    pub changed_at: Duration,
}

/// What the session loop must do next for the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read the head's bytes `from..to`.
    Read { from: u64, to: u64 },
    /// The head shrank under the read position: it is read again from 0;
    /// `lost` bytes it held beyond the position are gone.
    Truncated { lost: u64 },
    /// The head is finished; the file after it is the head now.
    HandOver(Tracked),
    /// Nothing to do until something changes.
    Idle,
}

/// What the session loop observed, in this order: the files after the
/// head first, then the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub now: Duration,
    /// Some file after the head holds at least one byte.
    pub successor_has_data: bool,
    /// The head's size, observed after the successors.
    pub head_size: u64,
    /// Nobody writes any more (the container stopped): finish files as soon
    /// as they are read.
    pub draining: bool,
}

/// Most files one path may have waiting: enough for a burst of rotations,
/// bounded because each is an open descriptor.
pub const MAX_FILES: usize = 16;

/// Finished files remembered, so a file seen again under another name is
/// not read twice.
const REMEMBERED: usize = 64;

#[derive(Debug, Clone)]
pub struct Follower {
    files: VecDeque<Tracked>,
    finished: VecDeque<FileId>,
    quiet: Duration,
    settle: Duration,
}

impl Follower {
    pub fn new(quiet: Duration, settle: Duration) -> Self {
        Follower {
            files: VecDeque::new(),
            finished: VecDeque::new(),
            quiet,
            settle,
        }
    }

    pub fn head(&self) -> Option<&Tracked> {
        self.files.front()
    }

    pub fn files(&self) -> impl Iterator<Item = &Tracked> {
        self.files.iter()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether `id` is held or was finished recently.
    pub fn knows(&self, id: FileId) -> bool {
        self.files.iter().any(|f| f.id == id) || self.finished.contains(&id)
    }

    /// Whether `id` is one of the files held (not a finished one).
    pub fn holds(&self, id: FileId) -> bool {
        self.files.iter().any(|f| f.id == id)
    }

    /// Forgets that `id` was finished: the inode number now names another
    /// file (file systems reuse the numbers of deleted files).
    pub fn forget(&mut self, id: FileId) {
        self.finished.retain(|f| *f != id);
    }

    /// Whether another file can be held.
    pub fn has_room(&self) -> bool {
        self.files.len() < MAX_FILES
    }

    /// Adds a file seen at the path, to be read from `pos` after the files
    /// already held. Returns `false` (and holds nothing) when it is already
    /// known or there is no room.
    pub fn push(&mut self, id: FileId, pos: u64, size: u64, now: Duration) -> bool {
        if self.knows(id) || !self.has_room() {
            return false;
        }
        self.files.push_back(Tracked {
            id,
            pos,
            seen: size,
            changed_at: now,
        });
        true
    }

    /// The head's next step, given fresh facts.
    pub fn decide(&mut self, facts: Facts) -> Step {
        let successors = self.files.len() > 1;
        let Some(head) = self.files.front_mut() else {
            return Step::Idle;
        };
        if facts.head_size != head.seen {
            head.changed_at = facts.now;
        }
        if facts.head_size < head.pos {
            let lost = head.seen.saturating_sub(head.pos);
            head.pos = 0;
            head.seen = facts.head_size;
            return Step::Truncated { lost };
        }
        head.seen = facts.head_size;
        if facts.head_size > head.pos {
            return Step::Read {
                from: head.pos,
                to: facts.head_size,
            };
        }
        let still = facts.now.saturating_sub(head.changed_at);
        let finished = successors
            && (facts.draining
                || still >= self.quiet
                || (facts.successor_has_data && still >= self.settle));
        if finished {
            let done = self.files.pop_front().expect("head");
            self.finished.push_back(done.id);
            if self.finished.len() > REMEMBERED {
                self.finished.pop_front();
            }
            if let Some(next) = self.files.front_mut() {
                next.changed_at = facts.now;
            }
            return Step::HandOver(done);
        }
        Step::Idle
    }

    /// Records that the head's bytes up to `pos` were consumed.
    pub fn advance(&mut self, pos: u64) {
        if let Some(head) = self.files.front_mut() {
            head.pos = head.pos.max(pos);
        }
    }

    /// When the loop must look again although nothing was reported: when
    /// the head's quiet or settle time runs out.
    pub fn next_deadline(&self) -> Option<Duration> {
        let head = self.files.front()?;
        (self.files.len() > 1).then(|| head.changed_at + self.settle.min(self.quiet))
    }

    /// Like [`Self::next_deadline`] for the longer wait.
    pub fn quiet_deadline(&self) -> Option<Duration> {
        let head = self.files.front()?;
        (self.files.len() > 1).then(|| head.changed_at + self.quiet)
    }
}

/// A directory change, as inotify reports it for the path's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirEvent {
    Created(Vec<u8>),
    MovedFrom { name: Vec<u8>, cookie: u32 },
    MovedTo { name: Vec<u8>, cookie: u32 },
    Removed(Vec<u8>),
}

/// Every file that was at the name `base` during a batch of events, oldest
/// first, with where it is at the end of the batch: `Some(name)` (still
/// `base`, or the name it was renamed to) or `None` (deleted, or moved out
/// of the directory: it cannot be opened any more). The file that was at
/// `base` before the batch comes first if the batch moved it away.
///
/// This is how files that appear and are renamed between two looks are
/// found: a writer that renames every few milliseconds leaves a trail of
/// `CREATE base`, `MOVED_FROM base`/`MOVED_TO base.1`, ... that names each
/// file's current name.
pub fn appearances(events: &[DirEvent], base: &[u8]) -> Vec<Option<Vec<u8>>> {
    // (order, where it is now)
    let mut found: Vec<(u64, Option<Vec<u8>>)> = Vec::new();
    let mut at_base: Option<usize> = None;
    let mut named: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut moving: HashMap<u32, usize> = HashMap::new();
    let mut seq = 1u64;
    let mut arrive = |found: &mut Vec<(u64, Option<Vec<u8>>)>,
                      at_base: &mut Option<usize>,
                      named: &mut HashMap<Vec<u8>, usize>,
                      idx: Option<usize>,
                      name: &[u8]| {
        // Whatever had this name before is replaced.
        let replaced = if name == base {
            at_base.take()
        } else {
            named.remove(name)
        };
        if let Some(old) = replaced
            && Some(old) != idx
        {
            found[old].1 = None;
        }
        let idx = match idx {
            Some(i) => i,
            None if name == base => {
                found.push((seq, None));
                seq += 1;
                found.len() - 1
            }
            None => return,
        };
        found[idx].1 = Some(name.to_vec());
        if name == base {
            *at_base = Some(idx);
        } else {
            named.insert(name.to_vec(), idx);
        }
    };
    let mut pre_existing_seen = false;
    for event in events {
        match event {
            DirEvent::Created(name) => arrive(&mut found, &mut at_base, &mut named, None, name),
            DirEvent::MovedTo { name, cookie } => {
                let idx = moving.remove(cookie);
                arrive(&mut found, &mut at_base, &mut named, idx, name);
            }
            DirEvent::MovedFrom { name, cookie } => {
                let idx = if name == base {
                    at_base.take().or_else(|| {
                        if pre_existing_seen {
                            return None;
                        }
                        pre_existing_seen = true;
                        found.push((0, None));
                        Some(found.len() - 1)
                    })
                } else {
                    named.remove(name)
                };
                if let Some(i) = idx {
                    found[i].1 = None;
                    moving.insert(*cookie, i);
                }
            }
            DirEvent::Removed(name) => {
                let idx = if name == base {
                    at_base.take()
                } else {
                    named.remove(name)
                };
                if let Some(i) = idx {
                    found[i].1 = None;
                }
            }
        }
        if name_of(event) == base {
            pre_existing_seen = true;
        }
    }
    found.sort_by_key(|(order, _)| *order);
    found.into_iter().map(|(_, at)| at).collect()
}

/// Whether a batch ends between the two halves of a rename: the kernel
/// queues `MOVED_FROM` and `MOVED_TO` one after the other, and a read can
/// fall between them. The session reads once more before it decides, or
/// the renamed file would look moved out of the directory.
pub fn ends_mid_move(events: &[DirEvent]) -> bool {
    matches!(events.last(), Some(DirEvent::MovedFrom { .. }))
}

/// Whether any of `events` names one of `names`: whether what those
/// names lead to may have changed.
pub fn touches<'a>(events: &[DirEvent], mut names: impl Iterator<Item = &'a [u8]>) -> bool {
    names.any(|n| events.iter().any(|e| name_of(e) == n))
}

fn name_of(event: &DirEvent) -> &[u8] {
    match event {
        DirEvent::Created(n) | DirEvent::Removed(n) => n,
        DirEvent::MovedFrom { name, .. } | DirEvent::MovedTo { name, .. } => name,
    }
}

/// What to do about the checkpointed file when a stream resumes, from
/// what is found at the path and in its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The path still names the checkpointed file: go on from the offset.
    Continue,
    /// The checkpointed file was renamed while nobody read it and is still
    /// in the directory: finish it from the offset, then read the path's
    /// file from its start.
    FinishRenamed,
    /// The checkpointed file is gone: what it got after the checkpoint is
    /// lost (of unknown size); read the path's file from its start.
    Lost,
}

/// Decides [`Resume`]. `recorded` is the checkpoint's file identity (`None`
/// for a checkpoint written by the exec reader, which only knows the
/// fingerprint); `at_path` whether the path's file matches the fingerprint;
/// `renamed` whether a file with the recorded inode and a matching
/// fingerprint was found in the directory.
///
/// Only the inode is compared: the device is the mount's, and a restarted
/// container's root is a new mount, with a new device number while the old
/// one is still held open (measured on fuse-overlayfs: device 40, then 41,
/// same inode).
pub fn resume(
    recorded: Option<FileId>,
    at_path: FileId,
    at_path_matches: bool,
    renamed: bool,
) -> Resume {
    match recorded {
        Some(id) if id.ino == at_path.ino && at_path_matches => Resume::Continue,
        Some(_) if renamed => Resume::FinishRenamed,
        Some(_) => Resume::Lost,
        None if at_path_matches => Resume::Continue,
        None => Resume::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn id(ino: u64) -> FileId {
        FileId { dev: 1, ino }
    }

    fn facts(now: u64, head_size: u64, successor_has_data: bool) -> Facts {
        Facts {
            now: ms(now),
            successor_has_data,
            head_size,
            draining: false,
        }
    }

    fn follower() -> Follower {
        Follower::new(ms(2000), ms(250))
    }

    #[test]
    fn appends_are_read_and_an_idle_single_file_stays() {
        let mut f = follower();
        assert!(f.push(id(1), 0, 10, ms(0)));
        assert_eq!(
            f.decide(facts(0, 10, false)),
            Step::Read { from: 0, to: 10 }
        );
        f.advance(10);
        assert_eq!(f.decide(facts(10, 10, false)), Step::Idle);
        // Alone, the head is never finished, however long it is still.
        assert_eq!(f.decide(facts(100_000, 10, false)), Step::Idle);
        assert_eq!(
            f.decide(facts(100_001, 25, false)),
            Step::Read { from: 10, to: 25 }
        );
    }

    #[test]
    fn a_rotated_file_is_read_to_its_end_before_the_next() {
        let mut f = follower();
        f.push(id(1), 0, 10, ms(0));
        f.advance(10);
        assert_eq!(f.decide(facts(0, 10, false)), Step::Idle);
        // Renamed; the new file appears while the old one still grows.
        assert!(f.push(id(2), 0, 0, ms(100)));
        assert!(
            !f.push(id(2), 0, 0, ms(100)),
            "known files are not held twice"
        );
        assert_eq!(
            f.decide(facts(100, 30, false)),
            Step::Read { from: 10, to: 30 }
        );
        f.advance(30);
        // At its end, the new file empty, still briefly: wait.
        assert_eq!(f.decide(facts(200, 30, false)), Step::Idle);
        // The new file got data before the head was found at its end and
        // the head has settled: hand over.
        assert_eq!(f.decide(facts(300, 30, true)), Step::Idle);
        match f.decide(facts(360, 30, true)) {
            Step::HandOver(done) => assert_eq!((done.id, done.pos), (id(1), 30)),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.head().unwrap().id, id(2));
        assert!(f.knows(id(1)), "a finished file is not taken up again");
        assert!(!f.holds(id(1)));
        assert!(!f.push(id(1), 0, 30, ms(400)));
        // Unless its inode number turns out to name a new file.
        f.forget(id(1));
        assert!(f.push(id(1), 0, 30, ms(400)));
        assert!(f.holds(id(1)));
    }

    #[test]
    fn without_data_in_the_next_file_the_head_waits_its_quiet_time() {
        let mut f = follower();
        f.push(id(1), 0, 0, ms(0));
        f.push(id(2), 0, 0, ms(0));
        assert_eq!(f.decide(facts(1999, 0, false)), Step::Idle);
        assert!(matches!(f.decide(facts(2000, 0, false)), Step::HandOver(_)));
        assert_eq!(f.next_deadline(), None, "alone again");
    }

    #[test]
    fn a_draining_stream_finishes_files_at_their_end() {
        let mut f = follower();
        f.push(id(1), 0, 5, ms(0));
        f.push(id(2), 0, 7, ms(0));
        let drain = |now, size| Facts {
            now: ms(now),
            successor_has_data: true,
            head_size: size,
            draining: true,
        };
        assert_eq!(f.decide(drain(0, 5)), Step::Read { from: 0, to: 5 });
        f.advance(5);
        assert!(matches!(f.decide(drain(0, 5)), Step::HandOver(_)));
        assert_eq!(f.decide(drain(0, 7)), Step::Read { from: 0, to: 7 });
        f.advance(7);
        assert_eq!(f.decide(drain(0, 7)), Step::Idle, "the last file stays");
    }

    #[test]
    fn truncation_restarts_at_zero_and_counts_what_was_seen_but_not_read() {
        let mut f = follower();
        f.push(id(1), 0, 100, ms(0));
        f.advance(60);
        assert_eq!(
            f.decide(facts(0, 100, false)),
            Step::Read { from: 60, to: 100 }
        );
        // Before the rest was read, the file was emptied and got 10 bytes.
        assert_eq!(f.decide(facts(50, 10, false)), Step::Truncated { lost: 40 });
        assert_eq!(
            f.decide(facts(60, 10, false)),
            Step::Read { from: 0, to: 10 }
        );
        f.advance(10);
        // Truncated to exactly the position read: not noticed, nothing lost
        // (the size never fell below the position).
        assert_eq!(f.decide(facts(70, 10, false)), Step::Idle);
    }

    #[test]
    fn the_number_of_files_held_is_bounded() {
        let mut f = follower();
        for i in 0..MAX_FILES as u64 {
            assert!(f.push(id(i), 0, 0, ms(0)));
        }
        assert!(!f.has_room());
        assert!(!f.push(id(999), 0, 0, ms(0)));
        assert_eq!(f.len(), MAX_FILES);
    }

    fn created(n: &str) -> DirEvent {
        DirEvent::Created(n.as_bytes().to_vec())
    }
    fn from(n: &str, cookie: u32) -> DirEvent {
        DirEvent::MovedFrom {
            name: n.as_bytes().to_vec(),
            cookie,
        }
    }
    fn to(n: &str, cookie: u32) -> DirEvent {
        DirEvent::MovedTo {
            name: n.as_bytes().to_vec(),
            cookie,
        }
    }
    fn names(found: Vec<Option<Vec<u8>>>) -> Vec<Option<String>> {
        found
            .into_iter()
            .map(|n| n.map(|n| String::from_utf8(n).unwrap()))
            .collect()
    }

    #[test]
    fn files_created_and_renamed_between_two_looks_are_found_in_order() {
        // The file there before, then two short-lived files, then the
        // current one.
        let events = [
            from("app.log", 1),
            to("app.log.1", 1),
            created("app.log"),
            from("app.log", 2),
            to("app.log.2", 2),
            created("app.log"),
            from("app.log", 3),
            to("app.log.3", 3),
            created("app.log"),
            created("other.log"),
        ];
        assert_eq!(
            names(appearances(&events, b"app.log")),
            [
                Some("app.log.1".into()),
                Some("app.log.2".into()),
                Some("app.log.3".into()),
                Some("app.log".into()),
            ]
        );
    }

    #[test]
    fn renamed_again_deleted_or_moved_out_are_followed_or_reported_gone() {
        let events = [
            created("app.log"),
            from("app.log", 1),
            to("app.log.1", 1),
            // logrotate shifts the numbers: .1 becomes .2
            from("app.log.1", 2),
            to("app.log.2", 2),
            created("app.log"),
            DirEvent::Removed(b"app.log".to_vec()),
            created("app.log"),
            // moved to another directory: no MOVED_TO here
            from("app.log", 3),
            created("app.log"),
            // a rename onto the current name replaces it
            created("tmp"),
            from("tmp", 4),
            to("app.log", 4),
        ];
        assert_eq!(
            names(appearances(&events, b"app.log")),
            [
                Some("app.log.2".into()),
                None,
                None,
                None,
                Some("app.log".into())
            ]
        );
        assert!(appearances(&[created("x")], b"app.log").is_empty());
    }

    #[test]
    fn a_batch_that_ends_between_the_halves_of_a_rename_is_noticed() {
        assert!(ends_mid_move(&[created("a"), from("a", 1)]));
        assert!(!ends_mid_move(&[from("a", 1), to("a.1", 1)]));
        assert!(!ends_mid_move(&[]));
    }

    #[test]
    fn events_touch_the_names_they_name() {
        let events = [created("a"), from("b", 1), to("c", 1)];
        let touched = |names: &[&str]| touches(&events, names.iter().map(|n| n.as_bytes()));
        assert!(touched(&["x", "c"]));
        assert!(touched(&["b"]));
        assert!(!touched(&["x", "a.1"]));
        assert!(!touched(&[]));
    }

    #[test]
    fn resume_rules() {
        let a = id(1);
        let b = id(2);
        assert_eq!(resume(Some(a), a, true, false), Resume::Continue);
        assert_eq!(resume(Some(a), b, false, true), Resume::FinishRenamed);
        assert_eq!(resume(Some(a), b, false, false), Resume::Lost);
        // Same inode but another first line: the inode was reused.
        assert_eq!(resume(Some(a), a, false, false), Resume::Lost);
        // The container restarted: its root is a new mount (another device).
        let remounted = FileId { dev: 2, ino: 1 };
        assert_eq!(resume(Some(a), remounted, true, false), Resume::Continue);
        assert_eq!(resume(Some(a), remounted, false, false), Resume::Lost);
        // Exec checkpoints carry no identity: the fingerprint decides.
        assert_eq!(resume(None, b, true, false), Resume::Continue);
        assert_eq!(resume(None, b, false, false), Resume::Lost);
    }
}
