//! The Mesos v1 HTTP protocol layer: generated protobuf types, RecordIO
//! framing, and scheduler and executor clients.
//!
//! This module knows the wire protocol and its failure modes (redirects,
//! heartbeats, fail-over, reconnection) and nothing about what the framework
//! does with offers or tasks: the scheduler loop and the executor drive it
//! through channels and small handles. It depends on no other module of the
//! crate but the leaf [`crate::backoff`], so it can be tested on its own
//! against a fake or a real master.
//!
//! * [`proto`]: the prost types generated from `proto/mesos/v1/**.proto`.
//! * [`recordio`]: the `<length>\n<bytes>` framing of event streams.
//! * [`scheduler`]: the scheduler API client (subscription driver + calls).
//! * [`executor`]: the executor API client.

pub mod executor;
mod http;
pub mod proto;
pub mod recordio;
pub mod scheduler;
pub mod stream;

pub use http::{CONTENT_TYPE_PROTOBUF, STREAM_ID_HEADER};
