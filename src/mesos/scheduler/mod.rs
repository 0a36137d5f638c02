//! The scheduler side of the Mesos v1 HTTP API.
//!
//! [`SchedulerDriver`] keeps one subscription alive (redirects, 503s,
//! heartbeats, reconnects with back-off) and hands events to the scheduler
//! loop as [`Incoming`] values; [`Caller`] sends ACCEPT, DECLINE, KILL and
//! the rest on separate connections. [`SchedulerClient`] is the one-shot
//! layer underneath, for code that wants to read a stream itself.
//!
//! Typical use (crate paths omitted, so the sketch is not compiled):
//!
//! ```text
//! let config = SchedulerConfig::from_master_list("http://m1:5050,http://m2:5050")?;
//! let options = SubscribeOptions {
//!     framework_info: FrameworkInfo { user: "root".into(), name: "demo".into(), ..Default::default() },
//!     suppressed_roles: vec![],
//! };
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let mut driver = SchedulerDriver::spawn(config, options, cancel.clone())?;
//! while let Some(incoming) = driver.events.recv().await {
//!     match incoming {
//!         Incoming::Subscribed(info) => println!("framework {}", info.framework_id.value),
//!         Incoming::Event(_event) => { /* offers, updates, ... */ }
//!         Incoming::Disconnected { .. } => {}
//!         _ => break,
//!     }
//! }
//! ```

mod client;
mod config;
mod driver;
mod error;
pub mod redirect;

pub use client::{Caller, SchedulerClient, Session, Subscription};
pub use config::{
    ConfigError, Credentials, DEFAULT_HEARTBEAT_INTERVAL, SchedulerConfig, heartbeat_interval,
};
pub use driver::{
    DriverExit, DriverHandle, Incoming, SchedulerDriver, SubscribeOptions, SubscribedInfo,
};
pub use error::{
    CallError, ErrorKind, FAILED_OVER_MESSAGE, REMOVED_MESSAGE, SubscribeError,
    classify_error_message,
};
