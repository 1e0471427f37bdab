//! The producer against a real Kafka broker: what a 202 means, what lands in the topic, and
//! how it answers when Kafka cannot take a write.

mod auth;
mod bad_input;
mod helpers;
mod kafka_down;
mod metrics;
mod publish;
mod schemathesis;
mod shutdown;
