//! Building the index from the database: at startup, on `POST /recommendation/generate`, and
//! the periodic pass that retires ended events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::TryStreamExt;
use slipstream_model::Id;
use sqlx::SqliteConnection;

use super::index::{Counts, Index, Micros};
use super::Recommender;
use crate::error::Result;
use crate::store::Store;

/// Rebuilds the index from the stored data and puts it in place. Writes wait meanwhile: the
/// rebuild holds the write connection, so no write falls between its read and the swap.
#[tracing::instrument(skip_all)]
pub async fn rebuild(store: &Store, recommender: &Recommender) -> Result<(Counts, Duration)> {
    let started = Instant::now();
    let mut conn = store.write_connection().await?;
    let index = load(&mut conn, Utc::now().timestamp_micros()).await?;
    let counts = index.counts();
    recommender.replace(index);
    drop(conn);
    let took = started.elapsed();
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
    load_coupons(conn, &mut index).await?;
    index.list_pending(now);
    Ok(index)
}

/// Streams every selection in coupon order and counts each coupon once it is complete.
async fn load_coupons(conn: &mut SqliteConnection, index: &mut Index) -> Result<()> {
    let mut rows = sqlx::query_as::<_, (Id, Id, Micros, Id)>(
        "SELECT s.coupon_id, c.user_id, c.timestamp, s.event_id
         FROM selections s JOIN coupons c ON c.id = s.coupon_id
         ORDER BY s.coupon_id",
    )
    .fetch(conn);
    let mut current: Option<(Id, Id, Micros)> = None;
    let mut events: Vec<Id> = Vec::new();
    while let Some((coupon, user, timestamp, event)) = rows.try_next().await? {
        if current.is_some_and(|(id, _, _)| id != coupon) {
            flush(index, current, &mut events);
        }
        current = Some((coupon, user, timestamp));
        events.push(event);
    }
    flush(index, current, &mut events);
    Ok(())
}

fn flush(index: &mut Index, coupon: Option<(Id, Id, Micros)>, events: &mut Vec<Id>) {
    if let Some((_, user, timestamp)) = coupon {
        index.add_coupon(user, timestamp, events);
    }
    events.clear();
}

/// Every `every`, retires ended events and lists those held back by
/// `gen_recommendations=false`. Runs until the process ends.
pub async fn run_periodic_pass(recommender: Arc<Recommender>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = Utc::now().timestamp_micros();
        let (ended, listed) = {
            let mut guard = recommender.write();
            match guard.as_mut() {
                Some(index) => (index.prune_ended(now), index.list_pending(now)),
                None => continue,
            }
        };
        tracing::info!(ended, listed, "Refreshed the recommendations.");
    }
}
