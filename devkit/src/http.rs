//! Waiting for a service to answer HTTP.
//!
//! Blocking, like the loops that call it (`slipstream-dev up`, the test helpers). reqwest's
//! blocking client runs a runtime of its own and panics when used on an async runtime's
//! thread, which is where async tests call their helpers from: [`wait_for_http`] therefore
//! probes from a thread of its own.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::blocking::Client;

const RETRY_EVERY: Duration = Duration::from_millis(50);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// One HTTP client for a series of probes.
#[derive(Debug, Clone)]
pub struct Probe {
    client: Client,
}

impl Probe {
    pub fn new() -> Result<Self> {
        let client = Client::builder()
            .timeout(IO_TIMEOUT)
            // A redirect is an answer of its own, not a way to a 200.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("Failed to build an HTTP client")?;
        Ok(Self { client })
    }

    /// The status of `GET url`; the body is read and dropped, so the connection closes cleanly.
    pub fn status(&self, url: &str) -> Result<u16> {
        let response = self
            .client
            .get(url)
            .send()
            .with_context(|| format!("GET {url} failed"))?;
        let status = response.status().as_u16();
        let _ = response.bytes();
        Ok(status)
    }

    /// Polls `GET url` until it answers 200, or fails once `timeout` has passed, naming the
    /// last reason it was not ready.
    pub fn wait_for_200(&self, url: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let reason = match self.status(url) {
                Ok(200) => return Ok(()),
                Ok(status) => format!("answered {status}"),
                Err(error) => format!("{error:#}"),
            };
            if Instant::now() >= deadline {
                bail!("{url} did not answer 200 within {timeout:?}: {reason}");
            }
            thread::sleep(RETRY_EVERY);
        }
    }
}

/// Polls `GET url` until it answers 200 (see [`Probe::wait_for_200`]), blocking the calling
/// thread, whether or not it belongs to an async runtime.
pub fn wait_for_http(url: &str, timeout: Duration) -> Result<()> {
    thread::scope(|scope| {
        scope
            .spawn(|| Probe::new()?.wait_for_200(url, timeout))
            .join()
            .unwrap_or_else(|_| bail!("The probe of {url} panicked"))
    })
}
