//! A JVM class-data archive (AppCDS) of the broker, built once per cache.
//!
//! About half of Kafka's start-up is the JVM loading and verifying its classes. Recording
//! them once into an archive that later JVMs map from disk cuts a broker start from about
//! 3.3 s to 1.8 s, which every test that starts a broker pays. The archive is an
//! optimisation only: when it cannot be built, or a JVM upgrade invalidates it, the JVM
//! starts without it.

use std::fs;

use anyhow::{bail, Context, Result};

use super::broker::{KafkaBroker, KafkaOptions};
use super::dist::{remove_if_present, KafkaDist};
use crate::notice;

/// Runs a broker once with class recording on; reports a failure and carries on without.
pub(crate) fn build(dist: &KafkaDist) {
    notice("recording the broker's classes once, to make every later start faster");
    if let Err(error) = try_build(dist) {
        notice(&format!(
            "no class archive, brokers will start more slowly: {error:#}"
        ));
    }
}

fn try_build(dist: &KafkaDist) -> Result<()> {
    let archive = dist.class_archive();
    let partial = dist.home().join("kafka.jsa.partial");
    remove_if_present(&archive)?;
    remove_if_present(&partial)?;
    let options = KafkaOptions::new().dump_class_archive(partial.clone());
    let mut broker = KafkaBroker::start_from(dist.clone(), options)?;
    // The JVM writes the archive while exiting, so it needs the graceful stop.
    broker.stop()?;
    if !partial.is_file() {
        bail!(
            "the JVM wrote no archive; its log ends with:\n{}",
            broker.log_tail(20)
        );
    }
    fs::rename(&partial, &archive).with_context(|| {
        format!(
            "Failed to move {} to {}",
            partial.display(),
            archive.display()
        )
    })
}
