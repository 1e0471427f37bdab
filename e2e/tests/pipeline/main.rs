//! The whole pipeline as real processes: a Kafka broker, the api on a fresh SQLite file, the
//! producer and one consumer per topic, talking real HTTP and Kafka.

// A failing test prints the services' logs: that is what stderr is for here.
#![allow(clippy::print_stderr)]

mod auth;
mod faults;
mod helpers;
mod ingest;
mod ledger;
mod load;
mod orphans;
mod poison;
mod races;
mod recommendations;
mod request_ids;
mod upload;
