//! The consumer as a real process, against a real broker and a real api.

// A failing test prints the consumer's log: that is what stderr is for here.
#![allow(clippy::print_stderr)]

mod auth;
mod batches;
mod delivery;
mod helpers;
mod metrics;
mod misconfiguration;
mod partitions;
mod tls;
