//! The api over real HTTP: each test runs its own app on a free port with a fresh database.

mod auth;
mod bad_input;
mod batches;
mod connections;
mod coupons;
mod edge;
mod events;
mod export;
mod groups;
mod helpers;
mod metrics;
mod openapi;
mod recommendations;
mod replicas;
mod schemathesis;
mod storage;
mod users;
