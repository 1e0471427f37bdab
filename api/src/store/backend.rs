//! What differs between the two databases the api runs on: how a connection is opened and a
//! transaction begun, and the few statements written once per database. Everything else in
//! the store is written once, against [`Conn`], and [`on_backend!`] instantiates it for each.
//!
//! An enum rather than a type parameter over `sqlx::Database`: sqlx's executor bounds would
//! have to be restated on every generic function, and the set of databases is closed (the same
//! choice as diesel's `MultiConnection`). The statements are plain SQL both accept (numbered
//! `$N` parameters, `coalesce`, `ON CONFLICT`); where they differ, a function here holds both.

use std::str::FromStr;

use anyhow::Context;
use slipstream_model::Id;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{
    Connection, FromRow, PgConnection, Pool, Postgres, Sqlite, SqliteConnection, Transaction,
};

use crate::config::Config;
use crate::error::Result;

/// The write connection's page cache: 64 MiB (negative: KiB, as SQLite's pragma counts).
const WRITE_CACHE_SIZE: &str = "-65536";

/// WAL pages after which a commit folds the log back into the database (SQLite's default:
/// 1,000, 4 MB). A group of coupons dirties a page per user it touches, so the default made
/// nearly every commit a checkpoint; at 40 MB a page written by many commits is copied once.
const WAL_CHECKPOINT_PAGES: &str = "10000";

/// Rows a read connection's worker thread may run ahead of its reader (sqlx's default: 50).
const ROW_BUFFER: usize = 4_096;

/// Runs `$body` with `$c` bound to the connection of whichever database `$conn` is on: the
/// body is written once and compiled for each.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite(c) => {
                let $c: &mut ::sqlx::SqliteConnection = c;
                $body
            }
            $crate::store::Conn::Postgres(c) => {
                let $c: &mut ::sqlx::PgConnection = c;
                $body
            }
        }
    };
}
pub(crate) use on_backend;

/// A connection to either database, borrowed from a pool or a transaction.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    /// Whether several api processes may write this database at once (PostgreSQL): then
    /// ids are taken under a lock, and each group counts its coupons in the database and
    /// tells the others through the feed.
    pub fn is_shared(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// The one of two spellings of a statement this database takes.
    pub fn pick<'s>(&self, sqlite: &'s str, postgres: &'s str) -> &'s str {
        match self {
            Conn::Sqlite(_) => sqlite,
            Conn::Postgres(_) => postgres,
        }
    }

    /// A savepoint: undone when dropped without [`Tx::commit`], leaving the rest of the
    /// enclosing transaction as it was.
    pub async fn begin(&mut self) -> Result<Tx<'_>> {
        Ok(match self {
            Conn::Sqlite(c) => Tx::Sqlite(c.begin().await?),
            Conn::Postgres(c) => Tx::Postgres(c.begin().await?),
        })
    }
}

/// A transaction, or a savepoint inside one, on either database.
pub enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

impl Tx<'_> {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// A connection taken from a read pool, returned to it when dropped.
pub enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Pooled {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// The pools of one database: one connection for the writer task, a few for reads.
#[derive(Debug, Clone)]
pub enum Pools {
    Sqlite {
        write: Pool<Sqlite>,
        read: Pool<Sqlite>,
    },
    Postgres {
        write: Pool<Postgres>,
        read: Pool<Postgres>,
    },
}

impl Pools {
    /// Opens the database `DATABASE_URL` names (`postgres://` or `postgresql://`, else
    /// SQLite) and brings its schema up to date with its own migrations.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let url = &config.database_url;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(config).await
        } else {
            connect_sqlite(config).await
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, Pools::Postgres { .. })
    }

    pub async fn reader(&self) -> Result<Pooled> {
        Ok(match self {
            Pools::Sqlite { read, .. } => Pooled::Sqlite(read.acquire().await?),
            Pools::Postgres { read, .. } => Pooled::Postgres(read.acquire().await?),
        })
    }

    /// The writer's transaction. SQLite's takes the write lock at once, so that a second
    /// process writing the file waits at the start rather than failing at the commit.
    pub async fn begin_write(&self) -> Result<Tx<'static>> {
        Ok(match self {
            Pools::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres { write, .. } => Tx::Postgres(write.begin().await?),
        })
    }

    /// A read transaction whose snapshot is already taken: it sees what was committed before
    /// this call and nothing after, however long it is read from.
    pub async fn snapshot(&self) -> Result<Tx<'static>> {
        let mut tx = match self {
            Pools::Sqlite { read, .. } => Tx::Sqlite(read.begin().await?),
            Pools::Postgres { read, .. } => Tx::Postgres(
                read.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        };
        // Both fix a read transaction's snapshot at its first statement.
        on_backend!(tx.conn(), c => {
            sqlx::query("SELECT 1 FROM users LIMIT 1").fetch_optional(c).await?;
        });
        Ok(tx)
    }

    /// Waits for in-flight queries, then closes every connection. The writer closes last:
    /// only a connection that can write folds SQLite's WAL back into the database file.
    pub async fn close(&self) {
        match self {
            Pools::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { write, read } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

/// Connections skip the pool's ping before each use: an in-process SQLite connection does
/// not go stale the way a network connection does, and the ping would cost every write.
async fn connect_sqlite(config: &Config) -> anyhow::Result<Pools> {
    let options = SqliteConnectOptions::from_str(&config.database_url)
        .context("Failed to parse DATABASE_URL")?
        .foreign_keys(true)
        .synchronous(config.sqlite_synchronous.into())
        .busy_timeout(config.database_busy_timeout());
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(config.database_busy_timeout())
        .connect_with(
            options
                .clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // The index pages a batch of writes touches, kept in the process rather
                // than read back from the OS for every statement (the default is 2 MB).
                .pragma("cache_size", WRITE_CACHE_SIZE)
                .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
                // Each request of a group runs in a savepoint, whose journal of the pages
                // it changes is a temporary file once it grows past 64 KiB: kept in
                // memory, as nothing reads it after a crash.
                .pragma("temp_store", "memory"),
        )
        .await
        .context("Failed to open the database for writing")?;
    sqlx::migrate!("migrations/sqlite")
        .run(&write)
        .await
        .context("Failed to migrate the database")?;
    let read = SqlitePoolOptions::new()
        .max_connections(config.database_read_connections.max(1))
        .test_before_acquire(false)
        .acquire_timeout(config.database_busy_timeout())
        // A rebuild reads ~100k rows: a deeper buffer lets the worker thread run ahead
        // instead of waking the reader for every few rows.
        .connect_with(options.read_only(true).row_buffer_size(ROW_BUFFER))
        .await
        .context("Failed to open the database for reading")?;
    Ok(Pools::Sqlite { write, read })
}

/// Commits wait for the server's disk (`synchronous_commit=on`, whatever the server's
/// default), so a 2xx means on disk as with SQLite. A connection the server dropped is
/// noticed by the pool's ping before use and replaced.
async fn connect_postgres(config: &Config) -> anyhow::Result<Pools> {
    let options = PgConnectOptions::from_str(&config.database_url)
        .context("Failed to parse DATABASE_URL")?
        .application_name(&config.database_application_name)
        // A lock held elsewhere (another process's long transaction) makes a write wait as
        // long as SQLite's busy timeout would, then 503, rather than until the request's own
        // timeout.
        .options([
            ("synchronous_commit", "on".to_owned()),
            (
                "lock_timeout",
                format!("{}ms", config.database_busy_timeout().as_millis()),
            ),
        ]);
    let pool = |connections: u32| {
        PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(config.database_busy_timeout())
    };
    let write = pool(1)
        .min_connections(1)
        .connect_with(options.clone())
        .await
        .context("Failed to connect to PostgreSQL")?;
    sqlx::migrate!("migrations/postgres")
        .run(&write)
        .await
        .context("Failed to migrate the database")?;
    let read = pool(config.database_read_connections.max(1))
        .connect_with(options)
        .await
        .context("Failed to connect to PostgreSQL for reading")?;
    Ok(Pools::Postgres { write, read })
}

/// Rows of `sql`, in which `{ids}` stands for the list `ids` (as in `WHERE id IN {ids}`):
/// bound as one JSON array for SQLite, one array for PostgreSQL, whatever its length.
pub async fn fetch_by_ids<T>(conn: &mut Conn<'_>, sql: &str, ids: &[Id]) -> Result<Vec<T>>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    Ok(match conn {
        Conn::Sqlite(c) => {
            let json = serde_json::to_string(ids).map_err(anyhow::Error::from)?;
            let sql = sql.replace("{ids}", "(SELECT value FROM json_each($1))");
            sqlx::query_as(&sql).bind(json).fetch_all(&mut **c).await?
        }
        Conn::Postgres(c) => {
            let sql = sql.replace("{ids}", "(SELECT unnest($1::bigint[]))");
            sqlx::query_as(&sql).bind(ids).fetch_all(&mut **c).await?
        }
    })
}

/// Whether any of `ids` is stored in `table`.
pub async fn any_stored(conn: &mut Conn<'_>, table: &str, ids: &[Id]) -> Result<bool> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id IN {{ids}})");
    let found: Vec<(bool,)> = fetch_by_ids(conn, &sql, ids).await?;
    Ok(found.first().is_some_and(|(any,)| *any))
}

/// `DATABASE_URL` as it may be logged: without a password.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_url_has_no_password() {
        assert_eq!(
            redacted("postgres://api:s3cret@db:5432/slipstream"),
            "postgres://api:***@db:5432/slipstream"
        );
        assert_eq!(redacted("sqlite://slipstream.db"), "sqlite://slipstream.db");
    }
}
