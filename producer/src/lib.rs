//! The producer: accepts records over HTTP and answers only once Kafka holds them.

mod config;
mod error;
mod metrics;
pub mod openapi;
mod publisher;
mod records;
mod startup;

pub use config::Config;
pub use error::{Error, Result};
pub use publisher::{Publisher, Receipt};
pub use startup::{app, AppState, Application};
