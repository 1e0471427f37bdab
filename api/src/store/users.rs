use futures::TryStreamExt;
use slipstream_model::{Country, Currency, Gender, Id, User};
use sqlx::FromRow;

use super::{decode, from_micros, micros, on_backend, truncate, Conn, Table};
use crate::error::Result;

/// Every user's id, handed to `each`: a few rows of comma-separated ids, one per 16,384
/// consecutive ids, for the reason [`super::bets::for_each`] gives.
pub(super) async fn each_id(conn: &mut Conn<'_>, mut each: impl FnMut(Id) + Send) -> Result<()> {
    let ids = conn.pick("group_concat(id)", "string_agg(id::text, ',')");
    let sql = format!("SELECT {ids} FROM users GROUP BY id >> 14");
    on_backend!(conn, c => {
        let mut chunks = sqlx::query_scalar::<_, String>(&sql).fetch(c);
        while let Some(chunk) = chunks.try_next().await? {
            for id in chunk.split(',') {
                each(decode(id.parse(), "users.id")?);
            }
        }
    });
    Ok(())
}

#[derive(FromRow)]
struct UserRow {
    id: Id,
    birth_year: i32,
    country: String,
    currency: String,
    gender: String,
    registration_date: i64,
}

impl Table for User {
    const TABLE: &'static str = "users";

    async fn find(conn: &mut Conn<'_>, id: Id) -> Result<Option<Self>> {
        let row: Option<UserRow> = on_backend!(conn, c => {
            sqlx::query_as(
                "SELECT id, birth_year, country, currency, gender, registration_date
                 FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(c)
            .await?
        });
        row.map(User::try_from).transpose()
    }

    async fn insert(&self, conn: &mut Conn<'_>) -> Result<()> {
        on_backend!(conn, c => {
            sqlx::query(
                "INSERT INTO users (id, birth_year, country, currency, gender, registration_date)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(self.id)
            .bind(self.birth_year)
            .bind(self.country.as_str())
            .bind(self.currency.as_str())
            .bind(self.gender.as_str())
            .bind(self.registration_date.map(micros))
            .execute(c)
            .await?;
        });
        Ok(())
    }

    fn same_content(&self, stored: &Self) -> bool {
        let mut request = self.clone();
        request.registration_date = request.registration_date.or(stored.registration_date);
        request == *stored
    }

    fn to_storage_precision(&mut self) {
        self.registration_date = self.registration_date.map(truncate);
    }
}

impl TryFrom<UserRow> for User {
    type Error = crate::error::Error;

    fn try_from(row: UserRow) -> Result<Self> {
        Ok(Self {
            id: Some(row.id),
            birth_year: row.birth_year,
            country: decode(Country::parse(&row.country), "users.country")?,
            currency: decode(Currency::parse(&row.currency), "users.currency")?,
            gender: decode(Gender::parse(&row.gender), "users.gender")?,
            registration_date: Some(from_micros(
                row.registration_date,
                "users.registration_date",
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;

    fn user(registration_date: Option<&str>) -> User {
        let mut body =
            json!({"id": 1, "birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"});
        if let Some(date) = registration_date {
            body["registration_date"] = json!(date);
        }
        User::parse(&body, Utc::now()).expect("valid")
    }

    #[test]
    fn a_user_without_registration_date_is_the_stored_one() {
        let stored = user(Some("2024-01-01T00:00:00Z"));
        assert!(user(None).same_content(&stored));
        assert!(user(Some("2024-01-01T00:00:00Z")).same_content(&stored));
        assert!(!user(Some("2024-01-02T00:00:00Z")).same_content(&stored));
    }

    #[test]
    fn any_other_field_makes_another_user() {
        let stored = user(None);
        let mut older = user(None);
        older.birth_year = 1980;
        assert!(!older.same_content(&stored));
    }

    #[test]
    fn registration_dates_are_kept_to_the_microsecond() {
        let mut user = user(Some("2024-01-01T00:00:00.1234567Z"));
        user.to_storage_precision();
        let expected: DateTime<Utc> = "2024-01-01T00:00:00.123456Z".parse().expect("valid");
        assert_eq!(user.registration_date, Some(expected));
    }
}
