//! Building the index from the database (at startup and on `POST /recommendation/generate`),
//! and the passes that keep it current.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;
use futures::TryStreamExt;
use slipstream_model::Id;
use sqlx::SqliteConnection;

use super::index::{Index, Micros};
use super::Recommender;
use crate::error::Result;
use crate::metrics;
use crate::store::Store;
use crate::writer::Writer;

/// The index as the stored data makes it at `now`, read from `conn` (a snapshot, so that the
/// writer knows which writes it lacks).
#[tracing::instrument(skip_all)]
pub async fn load(conn: &mut SqliteConnection, now: Micros) -> Result<Index> {
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
