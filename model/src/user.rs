use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use validator::ValidateRange;

use crate::error::Invalid;
use crate::fields::{integer, Fields};
use crate::id::{parse_id, Id};
use crate::timestamp::past_timestamp;
use crate::values::{Country, Currency, Gender};

/// A betting platform's customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub id: Option<Id>,
    /// 1900 to the current year − 18.
    #[schema(minimum = 1900)]
    pub birth_year: i32,
    pub country: Country,
    pub currency: Currency,
    pub gender: Gender,
    /// RFC 3339 (or `YYYY-MM-DD HH:MM:SS`, UTC), not in the future; the server's now when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<DateTime<Utc>>,
}

const FIELDS: &[&str] = &[
    "id",
    "birth_year",
    "country",
    "currency",
    "gender",
    "registration_date",
];

impl User {
    /// Parses a user as of `now`, which decides the youngest allowed birth year and what is future.
    pub fn parse(value: &Value, now: DateTime<Utc>) -> Result<Self, Invalid> {
        let mut f = Fields::new(value, FIELDS)?;
        let id = f.optional("id", parse_id);
        let birth_year = f.required("birth_year", |v| birth_year(v, now));
        let country = f.required("country", Country::from_json);
        let currency = f.required("currency", Currency::from_json);
        let gender = f.required("gender", Gender::from_json);
        let registration_date = f.optional("registration_date", |v| past_timestamp(v, now));
        f.finish()?;
        // Every `None` was reported, so `finish` returned early; the `else` is a safety net.
        let (
            Some(id),
            Some(birth_year),
            Some(country),
            Some(currency),
            Some(gender),
            Some(registration_date),
        ) = (id, birth_year, country, currency, gender, registration_date)
        else {
            return Err(Invalid::here("invalid user"));
        };
        Ok(Self {
            id,
            birth_year,
            country,
            currency,
            gender,
            registration_date,
        })
    }
}

/// Users must be adults: born in 1900 or later, and at least 18 by the end of this year.
fn birth_year(value: &Value, now: DateTime<Utc>) -> Result<i32, Invalid> {
    let latest = i64::from(now.year()) - 18;
    let year = integer(value)?;
    if !year.validate_range(Some(1900), Some(latest), None, None) {
        return Err(Invalid::here(format!("must be between 1900 and {latest}")));
    }
    Ok(year as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-06-15T12:00:00Z".parse().expect("valid")
    }

    fn parse(value: Value) -> Result<User, Invalid> {
        User::parse(&value, now())
    }

    fn valid() -> Value {
        json!({"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut user = valid();
        user[field] = value;
        user
    }

    fn failing_fields(value: Value) -> Vec<String> {
        parse(value)
            .err()
            .map(|e| e.fields().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_minimal_user_parses_without_id_or_registration_date() {
        let user = parse(valid()).expect("valid");
        assert_eq!((user.id, user.registration_date), (None, None));
        assert_eq!(user.country.as_str(), "GR");
    }

    #[test]
    fn birth_year_bounds_are_1900_and_eighteen_years_ago() {
        assert!(parse(with("birth_year", json!(1900))).is_ok());
        assert!(parse(with("birth_year", json!(2008))).is_ok());
        assert_eq!(
            failing_fields(with("birth_year", json!(1899))),
            ["birth_year"]
        );
        assert_eq!(
            failing_fields(with("birth_year", json!(2009))),
            ["birth_year"]
        );
        assert_eq!(
            failing_fields(with("birth_year", json!("1990"))),
            ["birth_year"]
        );
        assert_eq!(
            failing_fields(with("birth_year", json!(1990.5))),
            ["birth_year"]
        );
    }

    #[test]
    fn uk_is_stored_as_gb() {
        let user = parse(with("country", json!("UK"))).expect("valid");
        assert_eq!(
            serde_json::to_value(&user).expect("serializes")["country"],
            "GB"
        );
    }

    #[test]
    fn registration_date_may_be_naive_but_not_in_the_future() {
        let user = parse(with("registration_date", json!("2026-06-15 11:59:59"))).expect("valid");
        assert_eq!(user.registration_date, "2026-06-15T11:59:59Z".parse().ok());
        assert_eq!(
            failing_fields(with("registration_date", json!("2026-06-15T12:00:01Z"))),
            ["registration_date"]
        );
    }

    #[test]
    fn every_failing_field_is_reported_at_once() {
        let value = json!({"id": 0, "birth_year": 1800, "country": "Greece", "currency": "EURO", "gender": "male", "nickname": "x"});
        let mut fields = failing_fields(value);
        fields.sort();
        assert_eq!(
            fields,
            [
                "birth_year",
                "country",
                "currency",
                "gender",
                "id",
                "nickname"
            ]
        );
    }

    #[test]
    fn missing_fields_and_non_objects_are_named() {
        assert_eq!(
            failing_fields(json!({})),
            ["birth_year", "country", "currency", "gender"]
        );
        assert_eq!(failing_fields(json!([1])), [""]);
        assert_eq!(failing_fields(with("gender", Value::Null)), ["gender"]);
    }

    #[test]
    fn serializes_to_the_body_the_api_accepts() {
        let user = parse(with("id", json!(5))).expect("valid");
        let json = serde_json::to_value(&user).expect("serializes");
        assert_eq!(json, with("id", json!(5)));
        assert_eq!(parse(json), Ok(user));
    }
}
