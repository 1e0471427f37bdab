//! Slipstream's api: validates users, events and coupons, stores them in SQLite, and serves
//! them back, with every user's recommendations kept fresh in memory. Writes are idempotent by id, which turns the consumers' at-least-once delivery
//! into exactly-once storage.

pub mod config;
mod coupons;
pub mod error;
mod events;
mod health;
pub mod metrics;
pub mod openapi;
pub mod recommendations;
pub mod startup;
pub mod store;
mod users;
mod web;
pub mod writer;

pub use config::Config;
pub use error::{Error, Result};
pub use startup::{app, AppState, Application};
