//! One broker shared by all the tests of a test binary.
//!
//! Starting a broker costs seconds, so tests that only produce and consume share one and
//! isolate themselves with random topic and group names. A test script can start one broker
//! for all test binaries and pass it in `KAFKA_BOOTSTRAP_SERVERS`.

use std::env;
use std::sync::{Mutex, OnceLock};

use anyhow::{anyhow, Result};

use super::broker::KafkaBroker;

/// The broker started by [`shared_broker`], kept here so that it can be stopped at exit.
static SHARED: Mutex<Option<KafkaBroker>> = Mutex::new(None);

/// Bootstrap servers of the broker shared by this process: `KAFKA_BOOTSTRAP_SERVERS` if set,
/// else a broker started on first use and killed (its data removed) when the process exits.
///
/// # Panics
/// When the broker cannot be started; every call then panics with the same message, so one
/// failure does not cost each test another start-up timeout.
pub fn shared_broker() -> &'static str {
    static BOOTSTRAP: OnceLock<Result<String, String>> = OnceLock::new();
    let bootstrap = BOOTSTRAP.get_or_init(|| match env::var("KAFKA_BOOTSTRAP_SERVERS") {
        Ok(servers) if !servers.trim().is_empty() => Ok(servers),
        _ => start_shared().map_err(|error| format!("{error:#}")),
    });
    match bootstrap {
        Ok(servers) => servers,
        Err(error) => panic!("Failed to start the shared Kafka broker: {error}"),
    }
}

fn start_shared() -> Result<String> {
    let broker = KafkaBroker::start()?;
    let servers = broker.bootstrap_servers();
    *SHARED
        .lock()
        .map_err(|_| anyhow!("The shared broker's lock is poisoned"))? = Some(broker);
    // Statics are never dropped: without this the broker's temporary data would stay
    // behind (the process itself dies with its owner anyway).
    crate::sys::at_exit(kill_shared_broker);
    Ok(servers)
}

extern "C" fn kill_shared_broker() {
    // Unwinding into libc would abort; a failed clean-up at exit is not worth that.
    let _ = std::panic::catch_unwind(|| {
        let broker = SHARED.lock().ok().and_then(|mut slot| slot.take());
        if let Some(mut broker) = broker {
            // Its data is thrown away next, so there is nothing to shut down gracefully.
            let _ = broker.kill();
        }
    });
}
