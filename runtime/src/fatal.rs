//! How a service fails: one way for all of them.
//!
//! A fatal error travels up as an `anyhow::Error` to `main`, which hands it to [`exit_code`]:
//! logged once, in the service's log format, with its whole cause chain, and the process exits
//! non-zero so an orchestrator restarts it. Background tasks that the service cannot do without
//! run under a [`Supervisor`], whose first failure stops the service the same way; a task
//! left to fail silently would leave a process that looks alive but does no work.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use anyhow::anyhow;
use futures::FutureExt;
use tokio::task::JoinSet;

/// The exit of a service's `main`: success, or the error logged once and a failure code.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Stopped on a fatal error.");
            ExitCode::FAILURE
        }
    }
}

/// The exit of a command an operator runs (`slipstream-keys`, `consumer redrive`,
/// `slipstream-dev`): success, or the error with its whole cause chain on stderr, named after
/// the command, and a failure code. Its answer, if any, went to stdout.
#[allow(clippy::print_stderr)] // The one report of a command's failure.
pub fn command_exit(command: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{command}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Background tasks a service runs for as long as it serves.
#[derive(Debug, Default)]
pub struct Supervisor {
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Supervisor {
    /// Runs `task` in the background. Its error, or its panic, is a failure of the service,
    /// named after `what`; a task that ends with `Ok` simply has nothing more to do.
    pub fn spawn(
        &mut self,
        what: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.tasks.spawn(async move {
            match AssertUnwindSafe(task).catch_unwind().await {
                Ok(result) => result.map_err(|error| error.context(format!("{what} failed"))),
                Err(panic) => Err(anyhow!("{what} panicked: {}", panic_message(&*panic))),
            }
        });
    }

    /// Resolves with the first failure of a task; never, if none fails.
    pub async fn failure(&mut self) -> anyhow::Error {
        loop {
            match self.tasks.join_next().await {
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => return error,
                // Only an abort gets here (panics are caught above), and nothing aborts a
                // task before the supervisor is dropped.
                Some(Err(error)) => return anyhow!("a background task was cancelled: {error}"),
                None => std::future::pending().await,
            }
        }
    }
}

/// The text a panic was raised with.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_first_failing_task_is_the_failure_with_its_name_and_cause() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("the quiet task", async { Ok(()) });
        supervisor.spawn("the slow task", async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        supervisor.spawn("the failing task", async {
            Err(anyhow!("the disk is full").context("could not write"))
        });
        let failure = supervisor.failure().await;
        assert_eq!(
            format!("{failure:#}"),
            "the failing task failed: could not write: the disk is full"
        );
    }

    #[tokio::test]
    async fn a_panic_is_a_failure() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("the panicking task", async {
            panic!("index out of bounds")
        });
        let failure = supervisor.failure().await;
        assert_eq!(
            failure.to_string(),
            "the panicking task panicked: index out of bounds"
        );
    }

    #[tokio::test]
    async fn tasks_that_end_well_are_no_failure() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("the quiet task", async { Ok(()) });
        let waited = tokio::time::timeout(Duration::from_millis(100), supervisor.failure()).await;
        assert!(waited.is_err(), "no failure expected");
    }
}
