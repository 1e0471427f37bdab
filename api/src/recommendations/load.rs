//! Building the index from the database (at startup and on `POST /recommendation/generate`),
//! and the passes that keep it current.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::index::{Index, Micros};
use super::{Recommender, Uncounted};
use crate::error::Result;
use crate::metrics;
use crate::store::{Conn, Store};
use crate::writer::Writer;

/// The index as the stored data makes it at `now`, read from `conn` (a snapshot, so that the
/// writer knows which writes it lacks), and the coupons it counted that the stored counts do
/// not count yet.
#[tracing::instrument(skip_all)]
pub async fn load(conn: &mut Conn<'_>, now: Micros) -> Result<(Index, Uncounted)> {
    let mut index = Index::default();
    for (n, (event, popularity)) in Store::all_events(conn).await?.iter().enumerate() {
        index.load_event(event, *popularity);
        if n % 1_024 == 0 {
            // Beside the writer and the readers: see `Store::each_tally`.
            tokio::task::yield_now().await;
        }
    }
    Store::each_user(conn, |id| index.add_user(id)).await?;
    Store::each_tally(conn, |id, tally| index.load_user(id, tally)).await?;
    let mut uncounted = Uncounted::default();
    Store::each_uncounted(conn, |user, selections| {
        uncounted.coupon(user, selections.iter().map(|&(event, _)| event));
        index.add_selections(user, selections);
    })
    .await?;
    index.list_pending(now);
    Ok((index, uncounted))
}

/// Keeps the staleness gauge current, once a second, until the process ends.
pub async fn report_staleness(recommender: Arc<Recommender>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        metrics::staleness(recommender.staleness(Utc::now()));
    }
}

/// Every `every`, asks the writer to retire ended events and list those held back by
/// `gen_recommendations=false`. Runs until the process ends.
pub async fn run_periodic_pass(writer: Writer, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        writer.refresh().await;
    }
}
