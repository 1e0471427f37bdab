//! Free TCP ports on the loopback interface, so parallel tests never fight over a fixed port.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The kernel picks it (bind to port 0); the listener is dropped before returning, so there
/// is a small window in which another process could take it. Callers that cannot afford that
/// retry on "address in use".
///
/// A port is handed out once per process: tests running side by side in one binary start
/// their services only after picking all their ports, so without this two of them could be
/// given the same port, and one would talk to the other's service.
///
/// # Panics
/// If no socket can be bound on 127.0.0.1 at all, which leaves nothing sensible to test.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let port = match free_ports::<1>() {
            Ok([port]) => port,
            Err(error) => panic!("{error:#}"),
        };
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if handed_out.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Returns `N` distinct free ports, holding them all open until every one is chosen.
pub(crate) fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("Failed to bind 127.0.0.1:0"))
        .collect::<Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .context("Failed to read the address of a bound socket")?
            .port();
    }
    Ok(ports)
}
