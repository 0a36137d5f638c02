//! Leader duties: deciding what to do with offers, status updates and executor
//! reports, and driving the Mesos scheduler API accordingly.
//!
//! The decisions (`offers`, `upkeep`, `constraints`, and the report mapping
//! in `state::reports`) are pure functions of the projections and their
//! inputs; the driver is the thin loop that executes them against Mesos and
//! the journal. Must not import `api`, `server` or `executor`.

pub mod constraints;
pub mod driver;
pub mod launch;
pub mod leadership;
pub mod offers;
pub mod ports;
pub mod settings;
pub mod upkeep;
