//! Building the index from the database: at startup, on `POST /recommendation/generate`, and
//! the periodic pass that retires ended events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::Utc;
use futures::TryStreamExt;
use slipstream_model::Id;
use sqlx::SqliteConnection;

use super::index::{Counts, Index, Micros};
use super::Recommender;
use crate::error::Result;
use crate::metrics::{self, Trigger};
use crate::store::Store;

/// Rebuilds the index from the stored data and puts it in place. Writes wait meanwhile: the
/// rebuild holds the write connection, so no write falls between its read and the swap.
#[tracing::instrument(skip_all)]
pub async fn rebuild(
    store: &Store,
    recommender: &Recommender,
    trigger: Trigger,
) -> Result<(Counts, Duration)> {
    let started = Instant::now();
    let mut conn = store.write_connection().await?;
    let index = load(&mut conn, Utc::now().timestamp_micros()).await?;
    let counts = index.counts();
    recommender.replace(index);
    drop(conn);
    let took = started.elapsed();
    metrics::regenerated(trigger, took);
    tracing::info!(
        users = counts.users,
        events = counts.events,
        took_ms = took.as_millis() as u64,
        "Rebuilt the recommendations."
    );
    Ok((counts, took))
}

async fn load(conn: &mut SqliteConnection, now: Micros) -> Result<Index> {
    let mut index = Index::default();
    let mut users = sqlx::query_scalar::<_, Id>("SELECT id FROM users").fetch(&mut *conn);
    while let Some(id) = users.try_next().await? {
        index.add_user(id);
    }
    drop(users);
    for event in Store::all_events(conn).await? {
        index.add_event(&event, false);
    }
    load_selections(conn, &mut index).await?;
    index.list_pending(now);
    Ok(index)
}

/// Reads every user's selections as one row per user, already grouped by the covering index
/// `selections_by_user`: a tenth of the rows, and of the time, of one row per selection.
async fn load_selections(conn: &mut SqliteConnection, index: &mut Index) -> Result<()> {
    let mut rows = sqlx::query_as::<_, (Id, String)>(
        "SELECT user_id, group_concat(event_id || ':' || placed_at) FROM selections GROUP BY user_id",
    )
    .fetch(conn);
    while let Some((user, selections)) = rows.try_next().await? {
        let parsed = selections
            .split(',')
            .map(parse_selection)
            .collect::<Option<Vec<_>>>();
        let selections = parsed
            .ok_or_else(|| anyhow!("selections of user {user} are not `event:time` pairs"))?;
        index.add_selections(user, selections);
    }
    Ok(())
}

fn parse_selection(pair: &str) -> Option<(Id, Micros)> {
    let (event, placed_at) = pair.split_once(':')?;
    Some((event.parse().ok()?, placed_at.parse().ok()?))
}

/// Keeps the staleness gauge current, once a second, until the process ends.
pub async fn report_staleness(recommender: Arc<Recommender>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        metrics::staleness(recommender.staleness(Utc::now()));
    }
}

/// Every `every`, retires ended events and lists those held back by
/// `gen_recommendations=false`. Runs until the process ends.
pub async fn run_periodic_pass(recommender: Arc<Recommender>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let started = Instant::now();
        let now = Utc::now().timestamp_micros();
        let (ended, listed) = {
            let mut guard = recommender.write();
            let Some(index) = guard.as_mut() else {
                continue;
            };
            let refreshed = (index.prune_ended(now), index.list_pending(now));
            recommender.caught_up();
            refreshed
        };
        metrics::regenerated(Trigger::Periodic, started.elapsed());
        tracing::info!(ended, listed, "Refreshed the recommendations.");
    }
}
