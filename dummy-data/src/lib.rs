//! Slipstream's data generator: realistic, deterministic users, events and coupons for tests,
//! demos and the benchmarks of data set M.

pub mod cli;
pub mod freshness;
pub mod generate;
pub mod upload;
