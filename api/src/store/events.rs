use slipstream_model::{Country, Event, Id};
use sqlx::FromRow;

use super::{decode, from_micros, micros, on_backend, truncate, Conn, Table};
use crate::error::Result;

#[derive(FromRow)]
pub(super) struct EventRow {
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
pub(super) async fn all(conn: &mut Conn<'_>) -> Result<Vec<(Event, u32)>> {
    let rows: Vec<PopularEventRow> = on_backend!(conn, c => {
        sqlx::query_as(
            "SELECT id, begin_timestamp, end_timestamp, country, league, sport,
                    participant_1, participant_2, coalesce(selections, 0) AS popularity
             FROM events LEFT JOIN event_popularity ON event_popularity.event_id = events.id",
        )
        .fetch_all(c)
        .await?
    });
    rows.into_iter()
        .map(|row| {
            let popularity = decode(u32::try_from(row.popularity), "event_popularity")?;
            Ok((Event::try_from(row.event)?, popularity))
        })
        .collect()
}

#[derive(FromRow)]
struct PopularEventRow {
    #[sqlx(flatten)]
    event: EventRow,
    popularity: i64,
}

impl Table for Event {
    const TABLE: &'static str = "events";

    async fn find(conn: &mut Conn<'_>, id: Id) -> Result<Option<Self>> {
        let row: Option<EventRow> = on_backend!(conn, c => {
            sqlx::query_as(
                "SELECT id, begin_timestamp, end_timestamp, country, league, sport,
                        participant_1, participant_2
                 FROM events WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(c)
            .await?
        });
        row.map(Event::try_from).transpose()
    }

    async fn insert(&self, conn: &mut Conn<'_>) -> Result<()> {
        let [first, second] = &self.participants;
        on_backend!(conn, c => {
            sqlx::query(
                "INSERT INTO events (id, begin_timestamp, end_timestamp, country, league, sport,
                                     sport_key, participant_1, participant_2)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            .execute(c)
            .await?;
        });
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
