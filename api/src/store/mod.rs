//! Storage: the pools, the schema, and how each kind of record is written and read, on SQLite
//! (the default) or PostgreSQL ([`backend`] holds what differs).
//!
//! All writes go through one connection, which only the writer task uses: they are
//! serialized in the process and never meet SQLite's "database is locked", and a group of them
//! shares one transaction. Reads use a pool of their own, which WAL (SQLite) and MVCC
//! (PostgreSQL) let run beside the writer.

mod backend;
use backend::fetch_by_ids;
pub(crate) use backend::on_backend;
pub use backend::{redacted, Conn, Tx};
mod bets;
mod coupons;
pub use coupons::{CouponCursor, Page};
mod events;
#[cfg(test)]
mod every_query;
mod feed;
mod users;

use std::future::Future;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, SubsecRound, Utc};
use slipstream_model::{Event, Id, Record, GENERATED_ID_FLOOR};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics;
use crate::recommendations::{Change, Tally};
use backend::Pools;

/// Rows per multi-row insert: bound values rather than one JSON array, which SQLite parsed
/// again for every row's `->>`; a statement of 1,000 rows of four columns stays far below
/// SQLite's 32,766 parameters and PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The database, with its write connection and its read pool.
#[derive(Debug, Clone)]
pub struct Store {
    pools: Pools,
}

/// What a write did: 201 or 200 to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved<R> {
    /// The record is new; this is it as stored.
    Created(R),
    /// The identical record was already stored; this is the stored one.
    Replayed(R),
}

/// How one kind of record is kept.
pub trait Table: Record + Clone + PartialEq {
    /// Its table, which the next free id is taken from.
    const TABLE: &'static str;

    fn find(conn: &mut Conn<'_>, id: Id) -> impl Future<Output = Result<Option<Self>>> + Send;

    /// Inserts the complete record (id set, defaults filled).
    fn insert(&self, conn: &mut Conn<'_>) -> impl Future<Output = Result<()>> + Send;

    /// Inserts complete records that are all new, in as few statements as the kind allows.
    /// A refused record (a missing reference) fails the call; which one is then found
    /// record by record.
    fn insert_all(
        records: &[Self],
        conn: &mut Conn<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            for record in records {
                record.insert(conn).await?;
            }
            Ok(())
        }
    }

    /// Brings what is counted from this kind's records (the recommendations' tallies) up to
    /// date with new ones, in their transaction: how a bulk import counts.
    fn count(new: &[&Self], conn: &mut Conn<'_>) -> impl Future<Output = Result<()>> + Send {
        let _ = (new, conn);
        async { Ok(()) }
    }

    /// Lists new records as not counted yet, in their transaction: how the writer counts,
    /// in memory, writing the counts every so often ([`write_counts`]).
    fn defer_count(new: &[&Self], conn: &mut Conn<'_>) -> impl Future<Output = Result<()>> + Send {
        let _ = (new, conn);
        async { Ok(()) }
    }

    /// Whether a request carrying this id means the stored record: every field the request
    /// carries is equal; a field it left to the server's default matches whatever is stored.
    fn same_content(&self, stored: &Self) -> bool;

    /// Truncates timestamps to what a column holds, so a record compares equal to itself
    /// read back.
    fn to_storage_precision(&mut self);
}

impl Store {
    /// Opens the database, creating an SQLite file if needed, and brings its schema up to
    /// date.
    #[tracing::instrument(skip_all)]
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let pools = Pools::connect(config).await?;
        let url = redacted(&config.database_url);
        tracing::info!(%url, "Opened the database.");
        Ok(Self { pools })
    }

    /// Waits for in-flight queries, then closes every connection.
    pub async fn close(&self) {
        self.pools.close().await;
    }

    /// A cheap query that touches the schema: the database is there and readable.
    pub async fn ping(&self) -> Result<()> {
        let mut pooled = self.pools.reader().await?;
        on_backend!(pooled.conn(), c => {
            sqlx::query("SELECT 1 FROM users LIMIT 1").fetch_optional(c).await?;
        });
        Ok(())
    }

    /// Opens the transaction a group of writes shares. Only the writer task calls it: the
    /// pool holds one connection, so a second caller would wait for the group to end.
    pub async fn begin_write(&self) -> Result<Tx<'static>> {
        self.pools.begin_write().await
    }

    /// A read transaction whose snapshot is already taken: it sees what was committed before
    /// this call and nothing after, however long it is read from.
    pub async fn snapshot(&self) -> Result<Tx<'static>> {
        self.pools.snapshot().await
    }

    /// Inserts new records in one transaction, for bulk loads (`api-import`, a process of
    /// its own, with no writer task): no replay or conflict handling, ids must be set, and
    /// coupons are counted as the writer counts them. A failing record rolls the whole batch
    /// back.
    pub async fn import<R: Table>(&self, records: Vec<R>, now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.pools.begin_write().await?;
        let mut conn = tx.conn();
        let mut inserted = Vec::with_capacity(records.len());
        for record in records {
            inserted.push(insert(&mut conn, record, now).await?);
        }
        R::count(&inserted.iter().collect::<Vec<_>>(), &mut conn).await?;
        tx.commit().await?;
        Ok(inserted.len())
    }

    /// Every stored event with its popularity.
    pub async fn all_events(conn: &mut Conn<'_>) -> Result<Vec<(Event, u32)>> {
        events::all(conn).await
    }

    /// Every user's id, handed to `each`.
    pub async fn each_user(conn: &mut Conn<'_>, each: impl FnMut(Id) + Send) -> Result<()> {
        users::each_id(conn, each).await
    }

    /// Every coupon the stored tallies do not count yet, as its user and selections.
    pub async fn each_uncounted(
        conn: &mut Conn<'_>,
        each: impl FnMut(Id, Vec<(Id, i64)>) + Send,
    ) -> Result<()> {
        bets::for_each_uncounted(conn, each).await
    }

    /// Every user's tally, handed to `each`; a user without coupons has none.
    pub async fn each_tally(conn: &mut Conn<'_>, each: impl FnMut(Id, Tally) + Send) -> Result<()> {
        bets::for_each(conn, each).await
    }

    /// Whether other api processes may write this database too (see [`Conn::is_shared`]).
    pub fn is_shared(&self) -> bool {
        self.pools.is_shared()
    }

    /// The feed's changes after number `after`, up to `upto`, a bounded number at a time;
    /// nothing when the database is not shared.
    pub async fn feed_since(&self, after: u64, upto: u64) -> Result<Vec<(u64, Vec<Change>)>> {
        if !self.is_shared() {
            return Ok(Vec::new());
        }
        let mut pooled = self.pools.reader().await?;
        feed::since(&mut pooled.conn(), after, upto).await
    }

    /// Prunes the feed's rows older than `retention` (see [`feed::prune`]); how many.
    pub async fn prune_feed(&self, retention: Duration) -> Result<u64> {
        if !self.is_shared() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let pruned = feed::prune(&mut tx.conn(), retention).await?;
        tx.commit().await?;
        Ok(pruned)
    }

    /// The feed number a snapshot has reached; `None` when the database is not shared.
    pub async fn feed_head(snapshot: &mut Conn<'_>) -> Result<Option<u64>> {
        match snapshot.is_shared() {
            true => Ok(Some(feed::head(snapshot).await?)),
            false => Ok(None),
        }
    }

    /// The ids of up to `limit` stored records of a kind after `after`, ascending: how
    /// `api-export` pages through a table.
    pub async fn ids_after<R: Table>(&self, after: Id, limit: u32) -> Result<Vec<Id>> {
        let sql = format!(
            "SELECT id FROM {} WHERE id > $1 ORDER BY id LIMIT $2",
            R::TABLE
        );
        let mut pooled = self.pools.reader().await?;
        Ok(on_backend!(&mut pooled.conn(), c => {
            sqlx::query_scalar(&sql)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(c)
                .await?
        }))
    }

    /// The stored record with this id.
    #[tracing::instrument(skip(self), fields(kind = %R::KIND))]
    pub async fn find<R: Table>(&self, id: Id) -> Result<Option<R>> {
        let mut pooled = self.pools.reader().await?;
        R::find(&mut pooled.conn(), id).await
    }
}

/// Stores records or recognises them as already stored, as one unit inside the writer's open
/// transaction (a savepoint): a record without id gets the next free one, a replay of a
/// stored record is answered with it, a different record under a stored id is a conflict. A
/// refused record undoes the whole call, and only it: what else the transaction holds stays.
#[tracing::instrument(skip_all, fields(kind = %R::KIND, records = records.len()))]
pub async fn save<R: Table>(
    tx: &mut Conn<'_>,
    records: Vec<R>,
    now: DateTime<Utc>,
) -> Result<Vec<Saved<R>>> {
    let shared = tx.is_shared();
    let mut unit = tx.begin().await?;
    let saved = match insert_new(&mut unit.conn(), &records, now).await? {
        Some(saved) => saved,
        None => save_each(&mut unit.conn(), records, now).await?,
    };
    let new: Vec<&R> = saved
        .iter()
        .filter_map(|one| match one {
            Saved::Created(record) => Some(record),
            Saved::Replayed(_) => None,
        })
        .collect();
    if !shared {
        R::defer_count(&new, &mut unit.conn()).await?;
    }
    unit.commit().await?;
    for one in &saved {
        let (record, is_new) = match one {
            Saved::Created(record) => (record, true),
            Saved::Replayed(record) => (record, false),
        };
        metrics::stored(R::KIND, is_new);
        tracing::debug!(id = record.id(), created = is_new, "Saved a record.");
    }
    Ok(saved)
}

/// The last statements of a group's transaction on a shared database: its coupons counted,
/// its changes in the feed, whose number it answers. Nothing on SQLite, where the writer
/// counts in memory and no other process writes.
pub async fn finish_group(tx: &mut Conn<'_>, changes: &[Change]) -> Result<Option<u64>> {
    match tx.is_shared() {
        true => feed::finish_group(tx, changes).await,
        false => Ok(None),
    }
}

/// Writes the counts the writer keeps in memory, for the users and events whose counts
/// changed, inside the writer's open transaction: then no stored coupon is left uncounted.
pub async fn write_counts(
    tx: &mut Conn<'_>,
    tallies: &[(Id, Tally)],
    popularity: &[(Id, u32)],
) -> Result<()> {
    bets::write_counts(tx, tallies, popularity).await
}

/// Saves records one by one: a new record is inserted, a stored one compared, and the first
/// refused names itself by index.
async fn save_each<R: Table>(
    tx: &mut Conn<'_>,
    records: Vec<R>,
    now: DateTime<Utc>,
) -> Result<Vec<Saved<R>>> {
    let mut saved = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        let one = save_one(tx, record, now).await;
        saved.push(one.map_err(|e| e.in_batch(index))?);
    }
    Ok(saved)
}

/// The common case of a batch in a few statements: every record carries its own id, and none
/// is stored yet. `None` when that is not so, or when the insert fails (its transaction
/// undone): then the batch is saved record by record, which tells a replay from a
/// conflict and names a refused record.
async fn insert_new<R: Table>(
    conn: &mut Conn<'_>,
    records: &[R],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Saved<R>>>> {
    let Some(ids) = distinct_ids(records) else {
        return Ok(None);
    };
    let mut tx = conn.begin().await?;
    if backend::any_stored(&mut tx.conn(), R::TABLE, &ids).await? {
        return Ok(None);
    }
    let mut new = records.to_vec();
    for record in &mut new {
        record.fill_defaults(now);
        record.to_storage_precision();
    }
    match R::insert_all(&new, &mut tx.conn()).await {
        Ok(()) => {}
        Err(Error::Unavailable(e)) => return Err(Error::Unavailable(e)),
        Err(_) => return Ok(None),
    }
    tx.commit().await?;
    Ok(Some(new.into_iter().map(Saved::Created).collect()))
}

/// The ids of a batch, when there are two or more records and each has an id of its own.
fn distinct_ids<R: Table>(records: &[R]) -> Option<Vec<Id>> {
    let ids: Option<Vec<Id>> = records.iter().map(Record::id).collect();
    let ids = ids.filter(|ids| ids.len() > 1)?;
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[0] != w[1]).then_some(ids)
}

/// One record's part of a save: inserted, recognised as a replay, or refused.
async fn save_one<R: Table>(
    tx: &mut Conn<'_>,
    mut record: R,
    now: DateTime<Utc>,
) -> Result<Saved<R>> {
    record.to_storage_precision();
    let saved = match record.id() {
        Some(id) => match R::find(tx, id).await? {
            Some(stored) if record.same_content(&stored) => Saved::Replayed(stored),
            Some(_) => return Err(Error::IdConflict { kind: R::KIND, id }),
            None => Saved::Created(insert(tx, record, now).await?),
        },
        None => {
            let id = next_id(tx, R::TABLE)
                .await?
                .ok_or(Error::IdsExhausted { kind: R::KIND })?;
            record.set_id(id);
            Saved::Created(insert(tx, record, now).await?)
        }
    };
    Ok(saved)
}

async fn insert<R: Table>(conn: &mut Conn<'_>, mut record: R, now: DateTime<Utc>) -> Result<R> {
    record.fill_defaults(now);
    record.to_storage_precision();
    record.insert(conn).await?;
    Ok(record)
}

/// The first free id at or after the table's counter, below [`GENERATED_ID_FLOOR`] (ids
/// from there up are the producers'), and the counter moved past it; `None` only once all
/// 2^62 - 1 are taken. The search walks past ids clients took, each once, as the counter
/// never goes back: a client's own id, however high, leaves the rest of the range free.
///
/// On a shared database one lock for every table, held until the commit, keeps two
/// replicas from taking the same id (and, being one, from waiting for each other in turn).
async fn next_id(conn: &mut Conn<'_>, table: &str) -> Result<Option<Id>> {
    if let Conn::Postgres(c) = conn {
        sqlx::query("SELECT pg_advisory_xact_lock(1, 0)")
            .execute(&mut **c)
            .await?;
    }
    let find = format!(
        "WITH c AS (SELECT next_id AS n FROM id_counters WHERE tbl = $1) \
         SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM {table}, c WHERE id = c.n) THEN (SELECT n FROM c) \
         ELSE (SELECT t.id + 1 FROM {table} t, c WHERE t.id >= c.n AND t.id < $2 \
               AND NOT EXISTS (SELECT 1 FROM {table} u WHERE u.id = t.id + 1) \
               ORDER BY t.id LIMIT 1) END"
    );
    let free: Option<Id> = on_backend!(conn, c => {
        sqlx::query_scalar(&find).bind(table).bind(GENERATED_ID_FLOOR).fetch_one(&mut *c).await?
    });
    let Some(id) = free.filter(|&id| id < GENERATED_ID_FLOOR) else {
        return Ok(None);
    };
    on_backend!(conn, c => {
        sqlx::query("UPDATE id_counters SET next_id = $1 WHERE tbl = $2")
            .bind(id + 1)
            .bind(table)
            .execute(&mut *c)
            .await?;
    });
    Ok(Some(id))
}

/// Inserts `$rows` with bound values, [`ROWS_PER_STATEMENT`] to a statement: `$insert` is
/// the statement up to `VALUES`, `$then` what follows the rows (an upsert's `ON CONFLICT`, or
/// nothing), and the closure pushes one row's values. Each statement's text depends on its
/// row count, so none is kept in the statement cache. A macro, so that the closure is
/// compiled for each database's query builder.
macro_rules! insert_values {
    ($conn:expr, $insert:expr, $rows:expr, $then:expr, |$row:ident, $item:pat_param| $bind:expr) => {
        $crate::store::on_backend!($conn, c => {
            for chunk in $rows.chunks($crate::store::ROWS_PER_STATEMENT) {
                let mut query = ::sqlx::QueryBuilder::new($insert);
                query.push_values(chunk, |mut $row, $item| {
                    $bind;
                });
                query.push($then);
                query.build().persistent(false).execute(&mut *c).await?;
            }
        })
    };
}
use insert_values;

/// A timestamp as its column holds it.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(micros: i64, column: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| anyhow!("{column} holds {micros}, which is not a timestamp").into())
}

/// Microseconds are what the timestamp columns keep.
fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A stored value the model refuses means the file was changed behind the api's back.
fn decode<T, E: std::fmt::Display>(parsed: Result<T, E>, column: &str) -> Result<T> {
    parsed.map_err(|e| anyhow!("{column} holds a value the model refuses: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_microseconds() {
        let t: DateTime<Utc> = "2024-05-01T18:30:00.123456789Z".parse().expect("valid");
        let stored = truncate(t);
        assert_eq!(stored.to_rfc3339(), "2024-05-01T18:30:00.123456+00:00");
        assert_eq!(from_micros(micros(stored), "t").ok(), Some(stored));
    }
}
