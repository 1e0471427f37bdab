//! Records as a client sends them: valid by default, any field changed or left out by the
//! test that needs it, so a new field of a record is added to the tests in one place.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound as _, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One record's JSON body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Record(Map<String, Value>);

impl Record {
    fn of(value: Value) -> Self {
        match value {
            Value::Object(fields) => Self(fields),
            _ => Self(Map::new()),
        }
    }

    /// With the client's own id.
    pub fn id(self, id: i64) -> Self {
        self.set("id", id)
    }

    /// With `field` set to `value` (any JSON, valid or not).
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.0.insert(field.to_owned(), value.into());
        self
    }

    /// Without `field`.
    pub fn without(mut self, field: &str) -> Self {
        self.0.remove(field);
        self
    }

    pub fn json(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

impl From<Record> for Value {
    fn from(record: Record) -> Self {
        Value::Object(record.0)
    }
}

/// An adult from Greece paying in euros, registered when the api first stores them.
pub fn user() -> Record {
    Record::of(json!({"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}))
}

/// A two-hour football match that starts in a day, on the second.
pub fn event() -> Record {
    event_at((Utc::now() + Duration::days(1)).trunc_subsecs(0))
}

/// A two-hour football match that starts at `begin`, its times written as the api writes
/// them (`Z`, fractions only when there are any), so that what a test sent compares equal
/// to what it reads back.
pub fn event_at(begin: DateTime<Utc>) -> Record {
    let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Record::of(json!({
        "begin_timestamp": time(begin),
        "end_timestamp": time(begin + Duration::hours(2)),
        "country": "GB",
        "league": "Premier League",
        "sport": "Football",
        "participants": ["Arsenal", "Chelsea"],
    }))
}

/// A coupon of `user_id` with one selection at odds 1.85 on each of `events`.
pub fn coupon(user_id: i64, events: &[i64]) -> Record {
    let selections: Vec<Value> = (events.iter())
        .map(|id| json!({"event_id": id, "odds": 1.85}))
        .collect();
    Record::of(json!({"user_id": user_id, "stake": 10.5, "selections": selections}))
}

/// The records as one JSON array, a batch.
pub fn batch(records: impl IntoIterator<Item = Record>) -> Value {
    Value::Array(records.into_iter().map(Value::from).collect())
}

#[cfg(test)]
mod tests {
    use slipstream_model::{Coupon, Event, User};

    use super::*;

    #[test]
    fn every_record_is_valid_as_it_comes() {
        let now = Utc::now();
        User::parse(&user().id(1).json(), now).expect("a valid user");
        Event::parse(&event().id(2).json()).expect("a valid event");
        Coupon::parse(&coupon(1, &[2, 3]).id(4).json()).expect("a valid coupon");
    }

    #[test]
    fn times_are_written_as_the_api_writes_them() {
        let begin = "2027-01-02T18:00:00Z".parse().expect("a time");
        let event = event_at(begin).json();
        assert_eq!(event["begin_timestamp"], "2027-01-02T18:00:00Z");
        assert_eq!(event["end_timestamp"], "2027-01-02T20:00:00Z");
    }

    #[test]
    fn fields_are_changed_and_left_out() {
        let changed = user().set("country", "CY").without("gender").json();
        assert_eq!(changed["country"], "CY");
        assert!(changed.get("gender").is_none());
    }
}
