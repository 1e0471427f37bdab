//! `--verify`: asks the api for every uploaded record until all are there or the deadline
//! passes.

use std::time::{Duration, Instant};

use futures::{stream, StreamExt};

/// A record the api is asked for: its path (`users`, ...) and id.
pub type Wanted = (&'static str, u64);

/// Pause between two sweeps over the records not yet seen, so a slow consumer is not flooded.
const PAUSE: Duration = Duration::from_millis(100);

/// Returns the records still missing at `deadline`: empty when every one became visible.
pub async fn missing(
    http: &reqwest::Client,
    api: &str,
    mut pending: Vec<Wanted>,
    concurrency: usize,
    deadline: Instant,
) -> Vec<Wanted> {
    let api = api.trim_end_matches('/');
    loop {
        pending = unseen(http, api, pending, concurrency).await;
        if pending.is_empty() || Instant::now() >= deadline {
            return pending;
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// One sweep: the records the api does not answer 200 for, in their order.
async fn unseen(
    http: &reqwest::Client,
    api: &str,
    pending: Vec<Wanted>,
    concurrency: usize,
) -> Vec<Wanted> {
    let checks = pending.into_iter().map(|wanted| async move {
        let (path, id) = wanted;
        let seen = http
            .get(format!("{api}/{path}/{id}"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        (!seen).then_some(wanted)
    });
    stream::iter(checks)
        .buffered(concurrency.max(1))
        .filter_map(std::future::ready)
        .collect()
        .await
}
