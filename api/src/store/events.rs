use slipstream_model::{Country, Event, Id};
use sqlx::{FromRow, SqliteConnection};

use super::{decode, from_micros, micros, truncate, Table};
use crate::error::Result;

#[derive(FromRow)]
struct EventRow {
    id: Id,
    begin_timestamp: i64,
    end_timestamp: i64,
    country: String,
    league: String,
    sport: String,
    participant_1: String,
    participant_2: String,
}

/// Every stored event with its popularity, for a rebuild of the recommendations.
pub(super) async fn all(conn: &mut SqliteConnection) -> Result<Vec<(Event, u32)>> {
    let rows: Vec<PopularEventRow> = sqlx::query_as(
        "SELECT id, begin_timestamp, end_timestamp, country, league, sport,
                participant_1, participant_2, ifnull(selections, 0) AS popularity
         FROM events LEFT JOIN event_popularity ON event_popularity.event_id = events.id",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| Ok((Event::try_from(row.event)?, row.popularity)))
        .collect()
}

#[derive(FromRow)]
struct PopularEventRow {
    #[sqlx(flatten)]
    event: EventRow,
    popularity: u32,
}

impl Table for Event {
    const TABLE: &'static str = "events";

    async fn find(conn: &mut SqliteConnection, id: Id) -> Result<Option<Self>> {
        let row: Option<EventRow> = sqlx::query_as(
            "SELECT id, begin_timestamp, end_timestamp, country, league, sport,
                    participant_1, participant_2
             FROM events WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(conn)
        .await?;
        row.map(Event::try_from).transpose()
    }

    async fn insert(&self, conn: &mut SqliteConnection) -> Result<()> {
        let [first, second] = &self.participants;
        sqlx::query(
            "INSERT INTO events (id, begin_timestamp, end_timestamp, country, league, sport,
                                 sport_key, participant_1, participant_2)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(self.id)
        .bind(micros(self.begin_timestamp))
        .bind(micros(self.end_timestamp))
        .bind(self.country.as_str())
        .bind(&self.league)
        .bind(&self.sport)
        .bind(self.sport_key())
        .bind(first)
        .bind(second)
        .execute(conn)
        .await?;
        Ok(())
    }

    fn same_content(&self, stored: &Self) -> bool {
        self == stored
    }

    fn to_storage_precision(&mut self) {
        self.begin_timestamp = truncate(self.begin_timestamp);
        self.end_timestamp = truncate(self.end_timestamp);
    }
}

impl TryFrom<EventRow> for Event {
    type Error = crate::error::Error;

    fn try_from(row: EventRow) -> Result<Self> {
        Ok(Self {
            id: Some(row.id),
            begin_timestamp: from_micros(row.begin_timestamp, "events.begin_timestamp")?,
            end_timestamp: from_micros(row.end_timestamp, "events.end_timestamp")?,
            country: decode(Country::parse(&row.country), "events.country")?,
            league: row.league,
            sport: row.sport,
            participants: [row.participant_1, row.participant_2],
        })
    }
}
