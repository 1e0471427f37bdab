use std::collections::BTreeSet;

use slipstream_model::{Coupon, Id, Odds, Selection, Stake};
use sqlx::FromRow;

use super::{
    bets, decode, from_micros, insert_values, micros, on_backend, truncate, Conn, Store, Table,
};
use crate::error::{Error, Missing, Result};

/// One selection of a coupon, joined with its coupon: a coupon is its consecutive lines.
#[derive(FromRow)]
struct CouponLine {
    id: Id,
    user_id: Id,
    stake: i64,
    timestamp: i64,
    event_id: Id,
    odds: i64,
}

impl Table for Coupon {
    const TABLE: &'static str = "coupons";

    async fn find(conn: &mut Conn<'_>, id: Id) -> Result<Option<Self>> {
        let lines = on_backend!(conn, c => {
            sqlx::query_as(
                "SELECT c.id, c.user_id, c.stake, c.timestamp, s.event_id, s.odds
                 FROM coupons c JOIN selections s ON s.coupon_id = c.id
                 WHERE c.id = $1
                 ORDER BY s.position",
            )
            .bind(id)
            .fetch_all(c)
            .await?
        });
        Ok(assemble(lines)?.pop())
    }

    /// Foreign keys enforce the references; when one fails, the transaction is asked which
    /// ids are missing, so the client learns all of them at once. The insert runs in a
    /// savepoint of its own: PostgreSQL takes no statement in a transaction after a failed
    /// one until it is rolled back to before it.
    async fn insert(&self, conn: &mut Conn<'_>) -> Result<()> {
        let mut attempt = conn.begin().await?;
        let inserted = insert_rows(self, &mut attempt.conn()).await;
        if inserted.is_ok() {
            return attempt.commit().await;
        }
        drop(attempt);
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                let missing = missing_references(conn, self).await?;
                if missing.is_empty() {
                    return Err(Error::Database(sqlx::Error::Database(e).into()));
                }
                Err(Error::MissingReference(missing))
            }
            other => Ok(other?),
        }
    }

    /// A few statements for the whole batch, each inserting many rows of bound values: the
    /// per-statement cost, not SQLite's, is what limits a coupon-per-statement insert.
    async fn insert_all(coupons: &[Self], conn: &mut Conn<'_>) -> Result<()> {
        insert_values!(
            conn,
            "INSERT INTO coupons (id, user_id, stake, timestamp) ",
            coupons,
            "",
            |row, c| row
                .push_bind(c.id)
                .push_bind(c.user_id)
                .push_bind(c.stake.cents())
                .push_bind(c.timestamp.map(micros))
        );
        let selections: Vec<_> = coupons
            .iter()
            .flat_map(|c| {
                (0_i64..)
                    .zip(&c.selections)
                    .map(move |(position, s)| (c.id, position, s))
            })
            .collect();
        insert_values!(
            conn,
            "INSERT INTO selections (coupon_id, position, event_id, odds) ",
            selections,
            "",
            |row, (coupon, position, s)| row
                .push_bind(*coupon)
                .push_bind(*position)
                .push_bind(s.event_id)
                .push_bind(s.odds.thousandths())
        );
        Ok(())
    }

    async fn count(new: &[&Self], conn: &mut Conn<'_>) -> Result<()> {
        bets::count(conn, new).await
    }

    async fn defer_count(new: &[&Self], conn: &mut Conn<'_>) -> Result<()> {
        bets::defer(conn, new).await
    }

    fn same_content(&self, stored: &Self) -> bool {
        let mut request = self.clone();
        request.timestamp = request.timestamp.or(stored.timestamp);
        request == *stored
    }

    fn to_storage_precision(&mut self) {
        self.timestamp = self.timestamp.map(truncate);
    }
}

impl Store {
    /// One page of a user's coupons ordered by timestamp, then id: at most `limit`, after
    /// `after` when given; `None` for an unknown user. The page says where the next begins.
    #[tracing::instrument(skip(self))]
    pub async fn coupons_of_user(
        &self,
        user_id: Id,
        limit: u32,
        after: Option<CouponCursor>,
    ) -> Result<Option<Page>> {
        let mut pooled = self.pools.reader().await?;
        let mut conn = pooled.conn();
        if !exists(&mut conn, "users", user_id).await? {
            return Ok(None);
        }
        let after = after.unwrap_or(CouponCursor {
            timestamp: i64::MIN,
            id: 0,
        });
        // One more than asked, to know whether a next page exists.
        let lines = on_backend!(conn, c => {
            sqlx::query_as(
                "WITH page AS (
                     SELECT id, user_id, stake, timestamp FROM coupons
                     WHERE user_id = $1 AND (timestamp, id) > ($2, $3)
                     ORDER BY timestamp, id LIMIT $4)
                 SELECT p.id, p.user_id, p.stake, p.timestamp, s.event_id, s.odds
                 FROM page p JOIN selections s ON s.coupon_id = p.id
                 ORDER BY p.timestamp, p.id, s.position",
            )
            .bind(user_id)
            .bind(after.timestamp)
            .bind(after.id)
            .bind(i64::from(limit) + 1)
            .fetch_all(c)
            .await?
        });
        let mut coupons = assemble(lines)?;
        let next = (coupons.len() > limit as usize).then(|| {
            coupons.truncate(limit as usize);
            coupons.last().map(CouponCursor::of)
        });
        Ok(Some(Page {
            coupons,
            next: next.flatten(),
        }))
    }
}

/// One page of a user's coupons, and where the next one starts (`None` on the last).
#[derive(Debug)]
pub struct Page {
    pub coupons: Vec<Coupon>,
    pub next: Option<CouponCursor>,
}

/// A position in a user's coupons, after the coupon of this timestamp and id: stable while
/// coupons are added, unlike an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CouponCursor {
    timestamp: i64,
    id: Id,
}

impl CouponCursor {
    fn of(coupon: &Coupon) -> Self {
        Self {
            timestamp: coupon.timestamp.map_or(0, |t| t.timestamp_micros()),
            id: coupon.id.unwrap_or_default(),
        }
    }

    /// As a query parameter: `<timestamp µs>_<id>`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.timestamp, self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (timestamp, id) = text.split_once('_')?;
        Some(Self {
            timestamp: timestamp.parse().ok()?,
            id: id.parse().ok().filter(|&id: &Id| id > 0)?,
        })
    }
}

async fn insert_rows(coupon: &Coupon, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
    on_backend!(conn, c => {
        sqlx::query("INSERT INTO coupons (id, user_id, stake, timestamp) VALUES ($1, $2, $3, $4)")
            .bind(coupon.id)
            .bind(coupon.user_id)
            .bind(coupon.stake.cents())
            .bind(coupon.timestamp.map(micros))
            .execute(&mut *c)
            .await?;
        for (position, selection) in (0_i64..).zip(&coupon.selections) {
            sqlx::query(
                "INSERT INTO selections (coupon_id, position, event_id, odds)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(coupon.id)
            .bind(position)
            .bind(selection.event_id)
            .bind(selection.odds.thousandths())
            .execute(&mut *c)
            .await?;
        }
    });
    Ok(())
}

async fn missing_references(conn: &mut Conn<'_>, coupon: &Coupon) -> Result<Missing> {
    let mut missing = Missing::default();
    if !exists(conn, "users", coupon.user_id).await? {
        missing.users.push(coupon.user_id);
    }
    let mut events = BTreeSet::new();
    for id in coupon.event_ids() {
        if !exists(conn, "events", id).await? {
            events.insert(id);
        }
    }
    missing.events = events.into_iter().collect();
    Ok(missing)
}

async fn exists(conn: &mut Conn<'_>, table: &str, id: Id) -> Result<bool> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)");
    Ok(on_backend!(conn, c => sqlx::query_scalar(&sql).bind(id).fetch_one(c).await?))
}

/// Folds lines ordered by coupon into coupons, keeping the order of both.
fn assemble(lines: Vec<CouponLine>) -> Result<Vec<Coupon>> {
    let mut coupons: Vec<Coupon> = Vec::new();
    for line in lines {
        let selection = Selection {
            event_id: line.event_id,
            odds: decode(Odds::from_thousandths(line.odds), "selections.odds")?,
        };
        match coupons.last_mut() {
            Some(coupon) if coupon.id == Some(line.id) => coupon.selections.push(selection),
            _ => coupons.push(Coupon {
                id: Some(line.id),
                user_id: line.user_id,
                stake: decode(Stake::from_cents(line.stake), "coupons.stake")?,
                selections: vec![selection],
                timestamp: Some(from_micros(line.timestamp, "coupons.timestamp")?),
            }),
        }
    }
    Ok(coupons)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: Id, event_id: Id) -> CouponLine {
        CouponLine {
            id,
            user_id: 1,
            stake: 150,
            timestamp: 0,
            event_id,
            odds: 2_000,
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = CouponCursor {
            timestamp: 1_700_000_000_000_000,
            id: 42,
        };
        assert_eq!(CouponCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "1", "1_", "_1", "a_1", "1_0", "1_-2", "1_2_3"] {
            assert_eq!(CouponCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn consecutive_lines_of_a_coupon_become_its_selections_in_order() {
        let coupons = assemble(vec![line(5, 1), line(5, 2), line(3, 9)]).expect("valid");
        let shape: Vec<(Option<Id>, Vec<Id>)> = coupons
            .iter()
            .map(|c| (c.id, c.event_ids().collect()))
            .collect();
        assert_eq!(shape, [(Some(5), vec![1, 2]), (Some(3), vec![9])]);
        assert_eq!(coupons[0].stake.cents(), 150);
    }

    #[test]
    fn stored_values_the_model_refuses_are_errors_not_panics() {
        let mut bad = line(1, 1);
        bad.odds = 0;
        assert!(assemble(vec![bad]).is_err());
    }

    #[test]
    fn a_coupon_without_timestamp_is_the_stored_one() {
        let body = serde_json::json!({"id": 1, "user_id": 2, "stake": 1.5, "selections": [{"event_id": 3, "odds": 2}, {"event_id": 4, "odds": 3}]});
        let request = Coupon::parse(&body).expect("valid");
        let mut stored = request.clone();
        stored.timestamp = Some(chrono::Utc::now());
        assert!(request.same_content(&stored));
        let mut reordered = request.clone();
        reordered.selections.reverse();
        assert!(!reordered.same_content(&stored));
    }
}
