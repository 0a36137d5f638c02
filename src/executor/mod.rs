//! The executor: started by the Mesos agent on every agent, it finds the
//! Docker containers there, streams their configured files out of them into
//! local spool files, and accounts for every byte. It reaches the scheduler
//! only through Mesos messages: must not import `journal`, `state`, `api`,
//! `scheduler`, `live`, `server` or `cli`.
//!
//! * [`agent`]: the Mesos executor API side (task, config set, reports).
//!
//! * [`matching`] (pure): which (container, file) streams should run.
//! * [`discovery`]: the running containers, kept current from Docker.
//! * [`follow`] (pure): the direct reader's decisions (rotation, truncation,
//!   hand-over, files seen between two looks, resuming).
//! * [`confine`], [`root`], [`watch`]: a container's root through
//!   `/proc/<pid>/root`, paths resolved inside it, inotify on a directory.
//! * [`tail`] (pure): the exec reader's in-container command and what it prints.
//! * [`lines`] (pure): re-cutting Docker's chunks into whole lines.
//! * [`checkpoint`], [`spool`], [`sincedb`], [`layout`]: the files on disk.
//! * [`stream`]: one stream's loop (its `direct` and `exec` sessions);
//!   [`streams`]: the manager of all of them; [`retention`]: the state of
//!   streams gone for good; [`state_root`]: the state directories of
//!   frameworks and agents gone for good.
//! * [`standalone`]: all of it driven by a config-set file (the hidden
//!   `executor-streams` subcommand).
//!
//! The executor's main loop wires them like this (see [`standalone::run`]):
//!
//! ```no_run
//! use std::time::Duration;
//! use logstash_mesos::events::messages::ConfigSet;
//! use logstash_mesos::executor::{discovery, matching, stream::StreamSettings, streams::StreamManager};
//! # async fn example(configs: ConfigSet) {
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let docker = discovery::connect_retrying(Duration::from_secs(10), Duration::from_secs(30), &cancel)
//!     .await
//!     .expect("not cancelled");
//! let (mut containers, _task) =
//!     discovery::spawn(docker.clone(), discovery::DiscoverySettings::default(), cancel.clone());
//! let mut manager = StreamManager::new(docker, StreamSettings::new("spool".into(), "state".into()));
//! // On every new config set and every change of `containers`:
//! let snapshot = containers.borrow_and_update().clone();
//! let desired = matching::desired_streams(&configs, &snapshot.containers, None);
//! manager.apply(&desired);
//! for (key, _) in &desired.streams {
//!     let _logstash_path = manager.spool_glob(key); // `path =>` of the rendered file input
//!     let _sincedb = manager.sincedb_path(key); // `sincedb_path =>`
//! }
//! let (_reports, _totals) = manager.reports(); // for the ExecutorReport
//! manager.shutdown(Duration::from_secs(10)).await;
//! # }
//! ```

pub mod agent;
pub mod checkpoint;
pub mod confine;
pub mod discovery;
pub mod follow;
pub mod layout;
pub mod lines;
pub mod logstash;
pub mod matching;
pub mod monitoring;
pub mod pipeline;
pub mod retention;
pub mod root;
pub mod sincedb;
pub mod spool;
pub mod standalone;
pub mod state_root;
pub mod stream;
pub mod streams;
pub mod tail;
pub mod watch;
pub mod workload;
