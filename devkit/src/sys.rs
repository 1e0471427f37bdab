//! The crate's only unsafe code: the few Linux calls around signals and process lifetime
//! that the standard library does not offer, each behind a safe function.
//!
//! Why they are needed at all: children must die with their owner even when it is SIGKILLed
//! (`PR_SET_PDEATHSIG`, see [`crate::process`]); the foreground commands must notice Ctrl-C
//! while they watch their children in a plain loop, without an async runtime (a blocked
//! signal set read with `sigtimedwait`); a signal must reach a child's whole process group;
//! and statics, which are never dropped, must stop what they started when the process exits
//! (`atexit`). Keeping them here means one file to audit; the rest of the crate is safe Rust.
#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::unix::process::CommandExt;
use std::process::Command;
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

/// Sends `signal` to the process group `group`; a group that is gone already is not an error.
///
/// The caller must not have reaped the group's leader: only then is its id sure not to have
/// been reused by another process.
pub(crate) fn signal_group(group: u32, signal: libc::c_int) -> io::Result<()> {
    let group = libc::pid_t::try_from(group)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "process id out of range"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(-group, signal) };
    if rc != 0 {
        let error = io::Error::last_os_error();
        // ESRCH: the whole group is gone already (exited, waiting to be reaped).
        if error.raw_os_error() != Some(libc::ESRCH) {
            return Err(error);
        }
    }
    Ok(())
}

/// Makes the kernel SIGKILL the child when the thread that forked it exits, which, since all
/// forks happen on the process-long spawner thread, means when the owner process dies.
///
/// It also unblocks every signal in the child: the signal mask survives fork and exec, and
/// the foreground commands block SIGINT and SIGTERM ([`ShutdownSignals`]), which would
/// otherwise leave their children deaf to a graceful stop.
pub(crate) fn die_with_owner(command: &mut Command) {
    let owner = libc::pid_t::try_from(std::process::id()).unwrap_or(libc::pid_t::MAX);
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes system calls on a signal set on its own stack and builds
    // io::Errors from errno values, without allocating, locking or touching memory shared
    // with other threads.
    unsafe {
        command.pre_exec(move || {
            let mut none = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut none);
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // If the owner died between fork and prctl, no signal will ever come: give up.
            if libc::getppid() != owner {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Runs `clean_up` when the process exits normally (statics are never dropped).
///
/// `clean_up` must not unwind: a panic crossing into libc aborts the process, so wrap its
/// body in `catch_unwind`.
pub(crate) fn at_exit(clean_up: extern "C" fn()) {
    // SAFETY: atexit only records the address of a function that takes no arguments.
    unsafe {
        libc::atexit(clean_up);
    }
}
