//! Slipstream's domain model: users, events and coupons as the producer and the api accept them.
//!
//! Parsing, not validating: every constructor here turns loose JSON into a value that is valid
//! by construction, and reports *every* failing field at once (SPEC §2), because a client fixing
//! one field per round trip is a client that gives up.

pub mod contract;
mod coupon;
mod error;
mod event;
mod fields;
mod fixed;
mod id;
mod record;
mod schema;
mod timestamp;
mod user;
mod values;

pub use coupon::{Coupon, Odds, Selection, Stake, MAX_SELECTIONS};
pub use error::{FieldError, Invalid};
pub use event::Event;
pub use id::{Id, IdGenerator, GENERATED_ID_FLOOR};
pub use record::{parse_batch_text, parse_client_batch_text, Batch, Kind, Record, MAX_BATCH};
pub use timestamp::parse_timestamp;
pub use user::User;
pub use values::{Country, Currency, Gender};
