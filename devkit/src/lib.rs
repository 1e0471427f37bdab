//! Slipstream's own development and test tooling.
//!
//! The pipeline is only meaningful against a real Apache Kafka broker, so tests and local
//! runs start one from the Maven Central jars (no Docker, no mocks) and run the services as
//! real processes. Everything started here dies with the process that started it, even when
//! that process is SIGKILLed, so a crashed test run never leaves brokers or ports behind.

pub mod bins;
pub mod browser;
pub mod http;
pub mod kafka;
pub mod keys;
pub mod metrics;
pub mod pipeline;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod promql;
pub mod schemathesis;
pub mod sys;
pub mod tls;
pub mod up;
pub mod wait;

pub use bins::workspace_bin;
pub use http::wait_for_http;
pub use kafka::{shared_broker, KafkaBroker, KafkaOptions};
pub use keys::DevKeys;
pub use ports::free_port;
pub use postgres::{shared_database, test_database, tests_on_postgres, Postgres};
pub use process::{Logs, Service};
pub use wait::eventually;

/// Writes `contents` to `path`, a new file readable by its owner only: credentials are never
/// readable by others, not even between a write and a `chmod`.
pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(|error| anyhow::anyhow!("Failed to write {}: {error}", path.display()))
}

/// Reports progress to the developer on stderr, where test harnesses do not capture it.
///
/// Fetching jars or stopping a pipeline takes seconds; saying so beats a silent pause.
#[allow(clippy::print_stderr)] // The one place this crate talks to the terminal.
pub(crate) fn notice(message: &str) {
    eprintln!("slipstream-dev: {message}");
}
