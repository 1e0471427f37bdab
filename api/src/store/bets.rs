//! What the recommendations are rebuilt from: each event's popularity (`event_popularity`),
//! each user's tally (`user_bets`), and the coupons those do not count yet (`uncounted`).
//!
//! The writer lists each new coupon in `uncounted`, in the coupon's own transaction, and
//! writes the counts it keeps in memory every so often ([`write_counts`]); a bulk import
//! counts in the database as it inserts ([`count`]). Either way the stored counts plus the
//! listed coupons are exactly the stored coupons.

use std::collections::{BTreeMap, HashMap};

use super::{fetch_by_ids, insert_values, micros, on_backend, Conn};
use crate::error::Result;
use crate::recommendations::Tally;
use anyhow::anyhow;
use futures::TryStreamExt;
use slipstream_model::{Coupon, Id};

/// Counts new coupons in the database: their events get more popular, their users' tallies
/// grow. Five statements whatever the number of coupons: how a bulk import counts.
pub(super) async fn count(conn: &mut Conn<'_>, coupons: &[&Coupon]) -> Result<()> {
    let bets: Vec<Bet> = coupons
        .iter()
        .map(|c| {
            let placed_at = c.timestamp.map_or(0, micros);
            (c.user_id, c.event_ids().map(|e| (e, placed_at)).collect())
        })
        .collect();
    count_bets(conn, &bets).await
}

/// A coupon as the counts see it: its user, and its selections as events with the coupon's
/// time.
pub type Bet = (Id, Vec<(Id, i64)>);

/// [`count`] for coupons given as their bets.
pub(super) async fn count_bets(conn: &mut Conn<'_>, bets: &[Bet]) -> Result<()> {
    if bets.is_empty() {
        return Ok(());
    }
    let mut selections: BTreeMap<Id, u32> = BTreeMap::new();
    for (event, _) in bets.iter().flat_map(|(_, s)| s) {
        *selections.entry(*event).or_default() += 1;
    }
    let events: Vec<Id> = selections.keys().copied().collect();
    let sport_keys: HashMap<Id, String> = fetch_by_ids(
        conn,
        "SELECT id, sport_key FROM events WHERE id IN {ids}",
        &events,
    )
    .await?
    .into_iter()
    .collect();
    // In the order of their keys, as every writer takes their row locks: no deadlock.
    let popularity: Vec<(Id, i64)> = selections
        .into_iter()
        .map(|(event, n)| (event, i64::from(n)))
        .collect();
    insert_values!(
        conn,
        "INSERT INTO event_popularity (event_id, selections) ",
        popularity,
        " ON CONFLICT (event_id) DO UPDATE
          SET selections = event_popularity.selections + excluded.selections",
        |row, (event, n)| row.push_bind(*event).push_bind(*n)
    );
    let mut tallies = tallies_of(conn, bets.iter().map(|(user, _)| *user)).await?;
    for (user, selections) in bets {
        let tally = tallies.entry(*user).or_default();
        for &(event, placed_at) in selections {
            let sport = sport_keys
                .get(&event)
                .ok_or_else(|| anyhow!("event {event} of a stored coupon is not stored"))?;
            tally.add(event, sport, placed_at);
        }
    }
    let mut tallies: Vec<(Id, Tally)> = tallies.into_iter().collect();
    tallies.sort_unstable_by_key(|(user, _)| *user);
    store_tallies(conn, &tallies).await
}

/// Writes whole tallies over the stored ones.
async fn store_tallies(conn: &mut Conn<'_>, tallies: &[(Id, Tally)]) -> Result<()> {
    let rows: Vec<(Id, String)> = tallies
        .iter()
        .map(|(user, tally)| Ok((*user, serde_json::to_string(tally)?)))
        .collect::<Result<_, serde_json::Error>>()
        .map_err(anyhow::Error::from)?;
    insert_values!(
        conn,
        "INSERT INTO user_bets (user_id, tally) ",
        rows,
        " ON CONFLICT (user_id) DO UPDATE SET tally = excluded.tally",
        |row, (user, tally)| row.push_bind(*user).push_bind(tally)
    );
    Ok(())
}

/// Lists new coupons as not counted yet, for the writer, which counts them in memory.
pub(super) async fn defer(conn: &mut Conn<'_>, coupons: &[&Coupon]) -> Result<()> {
    insert_values!(
        conn,
        "INSERT INTO uncounted (coupon_id) ",
        coupons,
        "",
        |row, coupon| row.push_bind(coupon.id)
    );
    Ok(())
}

/// Writes the counts the writer kept in memory (each a user's whole tally, an event's whole
/// popularity), which then count every listed coupon: the list is emptied.
pub(super) async fn write_counts(
    conn: &mut Conn<'_>,
    tallies: &[(Id, Tally)],
    popularity: &[(Id, u32)],
) -> Result<()> {
    store_tallies(conn, tallies).await?;
    insert_values!(
        conn,
        "INSERT INTO event_popularity (event_id, selections) ",
        popularity,
        " ON CONFLICT (event_id) DO UPDATE SET selections = excluded.selections",
        |row, (event, selections)| row.push_bind(*event).push_bind(i64::from(*selections))
    );
    on_backend!(conn, c => {
        sqlx::query("DELETE FROM uncounted").execute(c).await?;
    });
    Ok(())
}

/// Every coupon not counted yet, as its user and its selections (each an event and the
/// coupon's time), handed to `each`. Read as one row per coupon, its events joined by commas.
pub(crate) async fn for_each_uncounted(
    conn: &mut Conn<'_>,
    mut each: impl FnMut(Id, Vec<(Id, i64)>) + Send,
) -> Result<()> {
    let events = conn.pick(
        "group_concat(s.event_id)",
        "string_agg(s.event_id::text, ',')",
    );
    let sql = format!(
        "SELECT c.user_id, c.timestamp,
                (SELECT {events} FROM selections s WHERE s.coupon_id = c.id)
         FROM uncounted u JOIN coupons c ON c.id = u.coupon_id"
    );
    on_backend!(conn, c => {
        let mut rows = sqlx::query_as::<_, (Id, i64, String)>(&sql).fetch(c);
        while let Some((user, placed_at, events)) = rows.try_next().await? {
            let selections = events
                .split(',')
                .map(|event| Ok((event.parse()?, placed_at)))
                .collect::<Result<_, std::num::ParseIntError>>()
                .map_err(|e| anyhow!("selections of an uncounted coupon of user {user}: {e}"))?;
            each(user, selections);
        }
    });
    Ok(())
}

/// The stored tallies of the coupons' users; a user without one yet has none here.
async fn tallies_of(
    conn: &mut Conn<'_>,
    users: impl Iterator<Item = Id>,
) -> Result<HashMap<Id, Tally>> {
    let mut users: Vec<Id> = users.collect();
    users.sort_unstable();
    users.dedup();
    let rows: Vec<(Id, String)> = fetch_by_ids(
        conn,
        "SELECT user_id, tally FROM user_bets WHERE user_id IN {ids}",
        &users,
    )
    .await?;
    rows.into_iter()
        .map(|(user, tally)| Ok((user, decode_tally(user, &tally)?)))
        .collect()
}

/// Every stored tally, handed to `each` with its user. Read as a few large rows of
/// `<user_id> <tally>` lines, one row per 1,024 consecutive ids: sqlx hands each row over from
/// a worker thread, which for 100 k small rows cost more than SQLite's reading them.
pub(crate) async fn for_each(
    conn: &mut Conn<'_>,
    mut each: impl FnMut(Id, Tally) + Send,
) -> Result<()> {
    let lines = conn.pick(
        "group_concat(user_id || ' ' || tally, char(10))",
        "string_agg(user_id || ' ' || tally, chr(10))",
    );
    let sql = format!("SELECT {lines} FROM user_bets GROUP BY user_id >> 10");
    on_backend!(conn, c => {
        let mut chunks = sqlx::query_scalar::<_, String>(&sql).fetch(c);
        while let Some(chunk) = chunks.try_next().await? {
            // A rebuild runs beside the writer and the readers: a chunk at a time, never
            // holding a runtime thread for the whole load.
            tokio::task::yield_now().await;
            for line in chunk.split('\n') {
                let parsed = line
                    .split_once(' ')
                    .and_then(|(user, tally)| Some((user.parse().ok()?, tally)));
                let (user, tally) =
                    parsed.ok_or_else(|| anyhow!("user_bets holds a row that is not a tally"))?;
                each(user, decode_tally(user, tally)?);
            }
        }
    });
    Ok(())
}

fn decode_tally(user: Id, tally: &str) -> Result<Tally> {
    serde_json::from_str(tally)
        .map_err(|e| anyhow!("user_bets.tally of user {user} is not a tally: {e}").into())
}
