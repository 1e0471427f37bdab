//! What every Slipstream service runs on: telemetry, shutdown, the HTTP edge (problem+json
//! errors, request ids, body limits) and Kafka client settings. One place, so the api, the
//! producer and the consumers answer and log alike.

pub mod auth;
pub mod fatal;
pub mod http;
pub mod json;
pub mod kafka;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod retry;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod trace_context;

pub use json::JsonText;
pub use problem::Problem;
