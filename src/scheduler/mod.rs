//! Leader duties: deciding what to do with offers, status updates and executor
//! reports, and driving the Mesos scheduler API accordingly.
//!
//! The decisions (`offers`, `upkeep`, `reports`, `constraints`) are pure
//! functions of the projections and their inputs; the driver is the thin loop
//! that executes them against Mesos and the journal.

pub mod constraints;
pub mod driver;
pub mod fingerprint;
pub mod history;
pub mod launch;
pub mod leadership;
pub mod live;
pub mod node_query;
pub mod nodes;
pub mod offers;
pub mod ports;
pub mod problems;
pub mod reports;
pub mod settings;
pub mod summary;
pub mod upkeep;
