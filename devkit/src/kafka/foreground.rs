//! `slipstream-dev kafka start`: one broker in the foreground until Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::{bail, Result};

use super::broker::KafkaOptions;
use super::KAFKA_VERSION;
use crate::notice;
use crate::sys::ShutdownSignals;

/// Starts a broker with `options`, its output on the terminal, prints its address, and stops
/// it gracefully on SIGINT or SIGTERM. Call it before starting any thread (see
/// [`ShutdownSignals::block`]).
pub fn run_in_foreground(options: KafkaOptions) -> Result<()> {
    let signals = ShutdownSignals::block()?;
    let mut broker = options.inherit_output(true).start()?;
    print_ready(
        &broker.bootstrap_servers(),
        &broker.dir().display().to_string(),
    );
    loop {
        if let Some(signal) = signals.wait(Duration::from_millis(200))? {
            notice(&format!("{signal} received, stopping Kafka"));
            return broker.stop();
        }
        if !broker.is_running() {
            bail!("Kafka exited unexpectedly (see its output above)");
        }
    }
}

#[allow(clippy::print_stdout)] // The address is this command's output.
fn print_ready(bootstrap_servers: &str, dir: &str) {
    println!("Apache Kafka {KAFKA_VERSION} is running (data in {dir}); stop it with Ctrl-C.");
    println!("KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers}");
}
