use std::future::Future;
use std::time::Duration;

/// Polls `check` until it holds, failing the test after `timeout` with what it waited for:
/// the one way tests here wait for an asynchronous pipeline, never a fixed sleep.
///
/// # Panics
/// When `check` does not hold within `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
