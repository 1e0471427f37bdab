//! `sqlx::migrate!` embeds the migrations at compile time; this makes a new or changed
//! migration rebuild the crate instead of silently shipping the old set.

#![allow(clippy::print_stdout)] // Cargo reads build script instructions from stdout.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
