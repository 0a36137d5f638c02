//! The executor: started by the Mesos agent on every agent, it follows the
//! config set from the scheduler and does the work on its agent.

pub mod agent;
