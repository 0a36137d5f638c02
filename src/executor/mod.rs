//! The executor's Docker half: find the containers on this agent, stream
//! their configured files out of them into local spool files, and account
//! for every byte.
//!
//! * [`matching`] (pure): which (container, file) streams should run.
//! * [`discovery`]: the running containers, kept current from Docker.
//! * [`tail`] (pure): the in-container command and what it prints.
//! * [`lines`] (pure): re-cutting Docker's chunks into whole lines.
//! * [`checkpoint`], [`spool`], [`sincedb`], [`layout`]: the files on disk.
//! * [`stream`]: one stream's loop; [`streams`]: the manager of all of them.

pub mod checkpoint;
pub mod discovery;
pub mod layout;
pub mod lines;
pub mod matching;
pub mod sincedb;
pub mod spool;
pub mod standalone;
pub mod stream;
pub mod streams;
pub mod tail;
