//! The end of a group of writes on a database several api replicas share (PostgreSQL): its
//! coupons counted in the database, and its changes appended to the feed the other replicas
//! read (see the `feed` table in the PostgreSQL migration for why it is numbered as it is).
//!
//! The counts cannot be kept in memory and written now and then as on SQLite: two replicas
//! each writing a user's whole tally from what they know would undo each other's coupons.
//! Each group instead adds its coupons to the stored counts, under a lock per user taken in
//! the order of their ids, so that replicas wait for each other rather than deadlock.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipstream_model::{Event, Id};

use super::bets::{self, Bet};
use super::events::EventRow;
use super::{decode, fetch_by_ids, on_backend, Conn};
use crate::error::Result;
use crate::recommendations::Change;

/// Feed rows read at a time.
const ROWS_PER_READ: i64 = 1_000;

/// A group's changes as the feed holds them: events and users by id, coupons as their bets.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Published {
    users: Vec<Id>,
    events: Vec<Id>,
    held: Vec<Id>,
    coupons: Vec<Bet>,
}

impl Published {
    fn of(changes: &[Change]) -> Self {
        let mut published = Self::default();
        for change in changes {
            match change {
                Change::User(id) => published.users.push(*id),
                Change::Event { event, listed } => {
                    let id = event.id.unwrap_or_default();
                    match listed {
                        true => published.events.push(id),
                        false => published.held.push(id),
                    }
                }
                Change::Coupon { user, selections } => {
                    published.coupons.push((*user, selections.clone()));
                }
                Change::Refresh { .. } => {}
            }
        }
        published
    }
}

/// Counts the group's coupons and appends its changes to the feed, as the last statements
/// of its transaction; the feed number it takes, `None` when nothing changed.
pub(super) async fn finish_group(conn: &mut Conn<'_>, changes: &[Change]) -> Result<Option<u64>> {
    if changes.is_empty() {
        return Ok(None);
    }
    let published = Published::of(changes);
    let users: BTreeSet<Id> = published.coupons.iter().map(|(user, _)| *user).collect();
    let users: Vec<Id> = users.into_iter().collect();
    if let Conn::Postgres(c) = conn {
        // A lock per user, in ascending order, held until the commit.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(u)
             FROM (SELECT u FROM unnest($1::bigint[]) AS u ORDER BY u) AS sorted",
        )
        .bind(&users)
        .execute(&mut **c)
        .await?;
    }
    bets::count_bets(conn, &published.coupons).await?;
    let text = serde_json::to_string(&published).map_err(anyhow::Error::from)?;
    let seq: i64 = on_backend!(conn, c => {
        let seq = sqlx::query_scalar("UPDATE feed_head SET seq = seq + 1 RETURNING seq")
            .fetch_one(&mut *c)
            .await?;
        sqlx::query("INSERT INTO feed (seq, changes) VALUES ($1, $2)")
            .bind(seq)
            .bind(text)
            .execute(c)
            .await?;
        seq
    });
    Ok(Some(decode(u64::try_from(seq), "feed_head.seq")?))
}

/// Deletes the rows committed longer than `retention` ago, but never the newest: a replica
/// behind it still finds a row after the last it applied, so it can tell that it missed some.
pub(super) async fn prune(conn: &mut Conn<'_>, retention: Duration) -> Result<u64> {
    let Conn::Postgres(c) = conn else {
        return Ok(0);
    };
    let pruned = sqlx::query(
        "DELETE FROM feed
         WHERE seq < (SELECT seq FROM feed_head)
           AND committed_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(&mut **c)
    .await?;
    Ok(pruned.rows_affected())
}

/// The feed number the transaction's snapshot has reached.
pub(super) async fn head(conn: &mut Conn<'_>) -> Result<u64> {
    let seq: i64 = on_backend!(conn, c => {
        sqlx::query_scalar("SELECT seq FROM feed_head").fetch_one(c).await?
    });
    decode(u64::try_from(seq), "feed_head.seq")
}

/// The feed's rows after `after`, up to `upto` and a bounded number, in order: each its
/// number and its changes, in the order a replica applies them (users, events, coupons).
pub(super) async fn since(
    conn: &mut Conn<'_>,
    after: u64,
    upto: u64,
) -> Result<Vec<(u64, Vec<Change>)>> {
    let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let rows: Vec<(i64, String)> = on_backend!(conn, c => {
        sqlx::query_as(
            "SELECT seq, changes FROM feed WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        )
        .bind(bound(after))
        .bind(bound(upto))
        .bind(ROWS_PER_READ)
        .fetch_all(c)
        .await?
    });
    let mut read = Vec::with_capacity(rows.len());
    for (seq, text) in rows {
        let published: Published = decode(serde_json::from_str(&text), "feed.changes")?;
        read.push((
            decode(u64::try_from(seq), "feed.seq")?,
            changes(conn, published).await?,
        ));
    }
    Ok(read)
}

async fn changes(conn: &mut Conn<'_>, published: Published) -> Result<Vec<Change>> {
    let mut changes: Vec<Change> = published.users.into_iter().map(Change::User).collect();
    for (ids, listed) in [(published.events, true), (published.held, false)] {
        if ids.is_empty() {
            continue;
        }
        let rows: Vec<EventRow> = fetch_by_ids(
            conn,
            "SELECT id, begin_timestamp, end_timestamp, country, league, sport,
                    participant_1, participant_2
             FROM events WHERE id IN {ids}",
            &ids,
        )
        .await?;
        for row in rows {
            let event = Event::try_from(row)?;
            changes.push(Change::Event { event, listed });
        }
    }
    changes.extend(
        (published.coupons.into_iter())
            .map(|(user, selections)| Change::Coupon { user, selections }),
    );
    Ok(changes)
}
