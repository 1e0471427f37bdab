//! Waiting for Ctrl-C (SIGINT) or SIGTERM without a signal handler or an async runtime.
//!
//! The foreground commands block both signals and collect them with `sigtimedwait`, which
//! lets one plain loop both watch the children and notice a shutdown request. The mask
//! survives fork and exec, so [`crate::process::Service`] unblocks all signals in each child.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use anyhow::{Context, Result};

/// SIGINT and SIGTERM, blocked so that they queue up for [`ShutdownSignals::wait`].
#[derive(Debug)]
pub struct ShutdownSignals {
    set: libc::sigset_t,
}

impl ShutdownSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread and in every thread it starts later.
    ///
    /// Call it first thing in `main`, before any thread exists (the Kafka client and the
    /// process spawner start threads): a thread that does not block them would take the
    /// default action, ending the process without stopping its children.
    #[allow(unsafe_code)]
    pub fn block() -> Result<Self> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set before sigaddset and pthread_sigmask read
        // it; all three only touch the set we own and the calling thread's signal mask.
        let set = unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
            libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc))
                    .context("Failed to block SIGINT and SIGTERM");
            }
            set.assume_init()
        };
        Ok(Self { set })
    }

    /// Waits up to `timeout` for SIGINT or SIGTERM; returns its name if one arrived.
    #[allow(unsafe_code)]
    pub fn wait(&self, timeout: Duration) -> Result<Option<&'static str>> {
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        // SAFETY: the set was initialised in `block`; a null siginfo pointer is allowed.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &timeout) };
        match signal {
            libc::SIGINT => Ok(Some("SIGINT")),
            libc::SIGTERM => Ok(Some("SIGTERM")),
            _ => {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => Ok(None),
                    _ => Err(error).context("Failed to wait for signals"),
                }
            }
        }
    }
}
