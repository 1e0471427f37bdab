use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde_json::Value;

use crate::error::Invalid;
use crate::fields::string;

/// Accepts RFC 3339, and the original system's naive `YYYY-MM-DD HH:MM:SS[.ffffff]` taken as UTC.
///
/// The instant must fall in the years 0000–9999 in UTC: an offset can push a valid text out
/// of them, and such a moment has no RFC 3339 form to be returned (or forwarded) in.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| {
            "must be an RFC 3339 timestamp (2024-05-01T18:30:00Z) or `YYYY-MM-DD HH:MM:SS`"
                .to_owned()
        })?;
    if !(0..=9999).contains(&parsed.year()) {
        return Err("must fall in the years 0000 to 9999 in UTC".into());
    }
    Ok(parsed)
}

pub(crate) fn timestamp(value: &Value) -> Result<DateTime<Utc>, Invalid> {
    Ok(parse_timestamp(string(value)?)?)
}

/// A moment that has already happened, judged against `now`.
pub(crate) fn past_timestamp(value: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    let t = timestamp(value)?;
    if t > now {
        return Err("must not be in the future".into());
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn rfc3339_with_any_offset_is_taken_as_that_instant() {
        assert_eq!(
            parse_timestamp("2024-05-01T20:30:00+02:00"),
            Ok(utc("2024-05-01T18:30:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-01T18:30:00.25Z"),
            Ok(utc("2024-05-01T18:30:00.25Z"))
        );
    }

    #[test]
    fn naive_timestamps_of_the_original_system_are_utc() {
        assert_eq!(
            parse_timestamp("2024-05-01 18:30:00"),
            Ok(utc("2024-05-01T18:30:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-01 18:30:00.123456"),
            Ok(utc("2024-05-01T18:30:00.123456Z"))
        );
    }

    #[test]
    fn other_shapes_are_rejected() {
        for bad in [
            "2024-05-01",
            "2024-05-01T18:30:00",
            "01/05/2024 18:30",
            "2024-13-01 00:00:00",
            "",
            "now",
            "0000-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-00:01",
            "+10000-01-01 00:00:00",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn future_moments_are_refused_where_the_past_is_required() {
        let now = utc("2024-05-01T18:30:00Z");
        assert!(past_timestamp(&Value::from("2024-05-01T18:30:00Z"), now).is_ok());
        assert!(past_timestamp(&Value::from("2024-05-01T18:30:00.000001Z"), now).is_err());
    }
}
