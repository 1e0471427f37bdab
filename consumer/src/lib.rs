//! The consumer: one process per topic, forwarding each message to the api in partition
//! order (partitions side by side) and committing its offset only once the api stored it or
//! a dead-letter topic holds it.

mod config;
mod consume;
mod dead_letter;
mod forward;
mod group;
mod health;
mod lanes;
mod metrics;
mod parked;
mod redrive;
mod worker;

pub use config::{Config, Mode};
pub use consume::run;
pub use forward::{Forwarder, Outcome};
pub use health::{Link, LinkStatus};
pub use redrive::{redrive, Redriven, Refused, MAX_REDRIVES};
