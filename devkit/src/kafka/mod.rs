//! A real Apache Kafka broker for tests and local runs, without Docker.
//!
//! The broker jars come from Maven Central (`tools/kafka/pom.xml`), are cached per user and
//! run with the system `java` as a single combined broker+controller KRaft node.

mod broker;
mod class_archive;
mod config;
mod dist;
mod foreground;
mod secured;
mod shared;
mod topics;

pub use broker::{KafkaBroker, KafkaOptions};
pub use dist::{cache_dir, fetch, KafkaDist};
pub use foreground::run_in_foreground;
pub use secured::SecuredListener;
pub use shared::shared_broker;
pub use topics::{header, read_to_end, read_topic};

/// The pinned broker version; `tools/kafka/pom.xml` must name the same one.
pub const KAFKA_VERSION: &str = "4.1.1";
