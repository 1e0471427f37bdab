use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::Invalid;
use crate::fields::{array, each, text, Fields};
use crate::id::{parse_id, Id};
use crate::timestamp::timestamp;
use crate::values::Country;

/// A sporting event users can bet on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub id: Option<Id>,
    /// RFC 3339, or `YYYY-MM-DD HH:MM:SS[.ffffff]` taken as UTC; answered as RFC 3339 UTC.
    pub begin_timestamp: DateTime<Utc>,
    /// After `begin_timestamp`; the same formats.
    pub end_timestamp: DateTime<Utc>,
    pub country: Country,
    /// 1 to 128 characters after trimming, none of them NUL (U+0000).
    #[schema(min_length = 1, max_length = 128)]
    pub league: String,
    /// 1 to 64 characters after trimming, none of them NUL, kept as written; sports group
    /// case-insensitively.
    #[schema(min_length = 1, max_length = 64, examples("football"))]
    pub sport: String,
    /// Two distinct names of 1 to 128 characters, none of them NUL.
    #[schema(min_items = 2, max_items = 2)]
    pub participants: [String; 2],
}

const FIELDS: &[&str] = &[
    "id",
    "begin_timestamp",
    "end_timestamp",
    "country",
    "league",
    "sport",
    "participants",
];

impl Event {
    pub fn parse(value: &Value) -> Result<Self, Invalid> {
        let mut f = Fields::new(value, FIELDS)?;
        let id = f.optional("id", parse_id);
        let begin_timestamp = f.required("begin_timestamp", timestamp);
        let end_timestamp = f.required("end_timestamp", timestamp);
        let country = f.required("country", Country::from_json);
        let league = f.required("league", |v| text(v, 128));
        let sport = f.required("sport", |v| text(v, 64));
        let participants = f.required("participants", participants);
        if let (Some(begin), Some(end)) = (begin_timestamp, end_timestamp) {
            if begin >= end {
                f.report(Invalid::at(
                    "end_timestamp",
                    "must be after begin_timestamp",
                ));
            }
        }
        f.finish()?;
        // Every `None` was reported, so `finish` returned early; the `else` is a safety net.
        let (
            Some(id),
            Some(begin_timestamp),
            Some(end_timestamp),
            Some(country),
            Some(league),
            Some(sport),
            Some(participants),
        ) = (
            id,
            begin_timestamp,
            end_timestamp,
            country,
            league,
            sport,
            participants,
        )
        else {
            return Err(Invalid::here("invalid event"));
        };
        Ok(Self {
            id,
            begin_timestamp,
            end_timestamp,
            country,
            league,
            sport,
            participants,
        })
    }

    /// Sports group case-insensitively: `football` and `Football` are one sport.
    pub fn sport_key(&self) -> String {
        self.sport.to_lowercase()
    }
}

/// Exactly two distinct names; case does not make a team another team.
fn participants(value: &Value) -> Result<[String; 2], Invalid> {
    let names = array(value)?;
    if names.len() != 2 {
        return Err(Invalid::here(format!(
            "must name exactly two participants, found {}",
            names.len()
        )));
    }
    match each(names, |v| text(v, 128))?.as_slice() {
        [a, b] if a.to_lowercase() == b.to_lowercase() => {
            Err(Invalid::at("[1]", "must differ from the first participant"))
        }
        [a, b] => Ok([a.clone(), b.clone()]),
        _ => Err(Invalid::here("must name exactly two participants")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "begin_timestamp": "2026-06-15T18:00:00Z",
            "end_timestamp": "2026-06-15T20:00:00Z",
            "country": "GB",
            "league": "Premier League",
            "sport": "football",
            "participants": ["Arsenal", "Chelsea"],
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut event = valid();
        event[field] = value;
        event
    }

    fn failing_fields(value: Value) -> Vec<String> {
        Event::parse(&value)
            .err()
            .map(|e| e.fields().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_valid_event_parses() {
        let event = Event::parse(&valid()).expect("valid");
        assert_eq!(
            event.participants,
            ["Arsenal".to_owned(), "Chelsea".to_owned()]
        );
    }

    #[test]
    fn both_timestamp_formats_are_accepted_and_returned_as_rfc3339_utc() {
        let event =
            Event::parse(&with("begin_timestamp", json!("2026-06-15 17:00:00.5"))).expect("valid");
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["begin_timestamp"], "2026-06-15T17:00:00.500Z");
        assert_eq!(json["end_timestamp"], "2026-06-15T20:00:00Z");
    }

    #[test]
    fn begin_must_be_before_end() {
        assert_eq!(
            failing_fields(with("begin_timestamp", json!("2026-06-15T20:00:00Z"))),
            ["end_timestamp"]
        );
        assert_eq!(
            failing_fields(with("begin_timestamp", json!("2026-06-15T21:00:00+01:00"))),
            ["end_timestamp"]
        );
    }

    #[test]
    fn sport_and_league_lengths_count_characters_after_trimming() {
        assert_eq!(
            Event::parse(&with("sport", json!("  Tennis "))).map(|e| e.sport),
            Ok("Tennis".into())
        );
        assert!(Event::parse(&with("sport", json!("é".repeat(64)))).is_ok());
        assert_eq!(
            failing_fields(with("sport", json!("é".repeat(65)))),
            ["sport"]
        );
        assert_eq!(failing_fields(with("sport", json!("   "))), ["sport"]);
        assert!(Event::parse(&with("league", json!("L".repeat(128)))).is_ok());
        assert_eq!(
            failing_fields(with("league", json!("L".repeat(129)))),
            ["league"]
        );
        assert_eq!(failing_fields(with("league", json!(""))), ["league"]);
    }

    #[test]
    fn sports_group_case_insensitively() {
        let upper = Event::parse(&with("sport", json!("Football"))).expect("valid");
        let lower = Event::parse(&valid()).expect("valid");
        assert_eq!(upper.sport_key(), lower.sport_key());
        assert_eq!(upper.sport, "Football");
    }

    #[test]
    fn names_holding_a_nul_character_are_refused() {
        let mut event = with("league", json!("Premier\0League"));
        event["sport"] = json!("\0");
        event["participants"] = json!(["Home", "Aw\0ay"]);
        assert_eq!(
            failing_fields(event),
            ["league", "sport", "participants[1]"]
        );
    }

    #[test]
    fn participants_are_exactly_two_distinct_names() {
        assert_eq!(
            failing_fields(with("participants", json!(["Arsenal"]))),
            ["participants"]
        );
        assert_eq!(
            failing_fields(with("participants", json!(["A", "B", "C"]))),
            ["participants"]
        );
        assert_eq!(
            failing_fields(with("participants", json!(["Arsenal", "arsenal"]))),
            ["participants[1]"]
        );
        assert_eq!(
            failing_fields(with("participants", json!(["Arsenal", " "]))),
            ["participants[1]"]
        );
        assert_eq!(
            failing_fields(with("participants", json!(["N".repeat(129), "B"]))),
            ["participants[0]"]
        );
        assert!(Event::parse(&with("participants", json!(["N".repeat(128), "B"]))).is_ok());
        assert_eq!(
            failing_fields(with("participants", json!("Arsenal v Chelsea"))),
            ["participants"]
        );
    }

    #[test]
    fn every_failing_field_is_reported_at_once() {
        let value = json!({"begin_timestamp": "soon", "country": "Greece", "league": "", "sport": 5, "participants": [1, 2], "extra": true});
        let mut fields = failing_fields(value);
        fields.sort();
        assert_eq!(
            fields,
            [
                "begin_timestamp",
                "country",
                "end_timestamp",
                "extra",
                "league",
                "participants[0]",
                "participants[1]",
                "sport"
            ]
        );
    }
}
