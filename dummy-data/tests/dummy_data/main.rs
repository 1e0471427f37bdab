//! The generator seen from outside: the files it writes, and the binary that writes them.

mod binary;
mod determinism;
mod distributions;
mod helpers;
mod records;
mod sample;
mod upload;
