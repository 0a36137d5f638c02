//! The scheduler's configuration directory: configs supplied as files, as the
//! original framework promised, kept in step with the log.
//!
//! `DIR/docker/<image>.conf` is the config for that image (subfolders stand for
//! `/` in the name); `DIR/host/<name>.conf` are host-level configs. Differences
//! become ordinary events with the actor `config-dir`; an invalid file is
//! reported and the last good version stays in force. A config the directory
//! put in force can only be changed through its file (the API answers 409).
//! Writes go through the journal like the API's. Must not import `api`,
//! `scheduler`, `executor`, `mesos` or `server`.

mod plan;
mod scan;
mod watch;

pub use plan::{DirFile, FileState, FileStatus, Plan, missing_folder, plan};
pub use scan::{Listing, MAX_FILE_BYTES, ScanError, scan};
pub use watch::{DirStatus, SharedStatus, follow, follow_while_leading, sync_once};
