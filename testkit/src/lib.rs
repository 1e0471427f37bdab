//! What the tests of every crate share: one way to start each service ([`services`]) and the
//! records they send ([`records`]).

pub mod records;
pub mod services;

pub use records::{batch, coupon, event, event_at, user, Record};
pub use services::{spawn_process, start_process, InProcess};
