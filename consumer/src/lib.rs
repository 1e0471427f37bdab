//! The consumer: one process per topic, forwarding each message to the api in partition
//! order (partitions side by side) and committing its offset only once the api stored it or
//! a dead-letter topic holds it.
//!
//! A message goes through four stages, a module each: [`poll`] (Kafka to its partition's
//! lane, offsets stored), [`lane`] (a partition in order, a waiting key set aside by
//! [`parked`]), [`forward`] (the POST to the api and its [`Answer`]) and [`verdict`] (what the
//! answer means for the message: done, dead-lettered by [`dead_letter`], waiting, abandoned).

mod config;
mod dead_letter;
mod forward;
mod group;
mod health;
mod lane;
mod metrics;
mod parked;
mod poll;
mod redrive;
mod verdict;

pub use config::{Config, Mode};
pub use forward::{Answer, Forwarder};
pub use health::{Link, LinkStatus};
pub use poll::{run, run_until};
pub use redrive::{redrive, Redriven, Refused, MAX_REDRIVES};
