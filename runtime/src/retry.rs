//! Trying again: the one backoff rule every client of ours follows (the consumers towards the
//! api and Kafka, `dummy-data upload` towards the producer), and the loop that applies it.
//!
//! Our own rather than a crate's: the loop must never cut a try in flight short (a forward
//! the api stored must get its answer so its offset is committed), only the waits between
//! tries, and a lane that sets a message aside needs the wait alone, without a loop.

use std::future::Future;
use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::HeaderMap;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Capped exponential backoff with full jitter, honouring a server's `Retry-After` up to the
/// cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed try, before jitter; it doubles with every try.
    pub first: Duration,
    /// No wait is longer, whatever a server asks.
    pub max: Duration,
    /// Tries in all, the first included; `None` tries until done or stopped.
    pub attempts: Option<u32>,
}

impl Backoff {
    /// Doubling from 100 ms up to `max`, without end.
    pub const fn up_to(max: Duration) -> Self {
        Self {
            first: Duration::from_millis(100),
            max,
            attempts: None,
        }
    }

    /// The same, giving up after `attempts` tries.
    pub const fn tries(self, attempts: u32) -> Self {
        Self {
            attempts: Some(attempts),
            ..self
        }
    }

    /// The wait after failed try `attempt` (from 0): between half and all of `first · 2^attempt`
    /// (the jitter spreads clients that failed together), never sooner than the server asked
    /// (`at_least`), never longer than `max`.
    pub fn delay(&self, attempt: u32, at_least: Option<Duration>) -> Duration {
        let ceiling = self
            .first
            .saturating_mul(1 << attempt.min(16))
            .min(self.max);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
        jittered.max(at_least.unwrap_or_default()).min(self.max)
    }
}

/// What one try came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<T> {
    Done(T),
    /// Worth another try, no sooner than the server asked, if it did.
    Again(Option<Duration>),
}

/// Tries `step` (given the try's number, from 0) until it is done, waiting as `backoff` says
/// between tries. `None` when `stop` is cancelled during a wait, or when the tries run out.
pub async fn retry<T, Try>(
    backoff: &Backoff,
    stop: &CancellationToken,
    mut step: impl FnMut(u32) -> Try,
) -> Option<T>
where
    Try: Future<Output = Attempt<T>>,
{
    for attempt in 0u32.. {
        let at_least = match step(attempt).await {
            Attempt::Done(done) => return Some(done),
            Attempt::Again(at_least) => at_least,
        };
        if backoff.attempts.is_some_and(|tries| attempt + 1 >= tries) {
            return None;
        }
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(backoff.delay(attempt, at_least)) => {}
        }
    }
    None
}

/// A `Retry-After` of whole seconds (the only form our services send).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs = headers.get(RETRY_AFTER)?.to_str().ok()?;
    secs.trim().parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_the_cap() {
        let backoff = Backoff::up_to(Duration::from_secs(1));
        for _ in 0..100 {
            let second = backoff.delay(1, None);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            assert!(backoff.delay(20, None) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn a_servers_retry_after_is_honoured_up_to_the_cap() {
        let backoff = Backoff::up_to(Duration::from_secs(5));
        assert_eq!(
            backoff.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff.delay(0, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tries_until_done_and_gives_up_when_the_tries_run_out() {
        let backoff = Backoff::up_to(Duration::from_millis(10));
        let never = CancellationToken::new();
        let tries = AtomicU32::new(0);
        let third = retry(&backoff, &never, |attempt| {
            tries.fetch_add(1, Ordering::Relaxed);
            async move {
                match attempt {
                    2 => Attempt::Done("done"),
                    _ => Attempt::Again(None),
                }
            }
        })
        .await;
        assert_eq!((third, tries.load(Ordering::Relaxed)), (Some("done"), 3));

        let tries = AtomicU32::new(0);
        let given_up = retry(&backoff.tries(4), &never, |_| {
            tries.fetch_add(1, Ordering::Relaxed);
            async { Attempt::<()>::Again(None) }
        })
        .await;
        assert_eq!((given_up, tries.load(Ordering::Relaxed)), (None, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_wait_but_not_a_try() {
        let backoff = Backoff::up_to(Duration::from_secs(3600));
        let stop = CancellationToken::new();
        let stopped = retry(&backoff, &stop, |_| async {
            // The try is under way when the stop comes, and finishes.
            stop.cancel();
            tokio::time::sleep(Duration::from_secs(1)).await;
            Attempt::<()>::Again(Some(Duration::from_secs(3600)))
        });
        let started = tokio::time::Instant::now();
        assert_eq!(stopped.await, None);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
