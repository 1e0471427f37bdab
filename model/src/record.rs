//! What the three kinds of record have in common, and batches of them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::coupon::Coupon;
use crate::error::Invalid;
use crate::event::Event;
use crate::fields::each;
use crate::id::{check_client_id, Id};
use crate::user::User;

/// Most records one producer request may carry.
pub const MAX_BATCH: usize = 1_000;

/// The three kinds of record, each with its topic and its api route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Users,
    Events,
    Coupons,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Users, Kind::Events, Kind::Coupons];

    /// The topic name, and the api path segment: `users`, `events`, `coupons`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Events => "events",
            Self::Coupons => "coupons",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user, event or coupon.
pub trait Record: Serialize + Sized + Send + Sync + 'static {
    const KIND: Kind;

    /// Parses as of `now`, which some rules depend on (adult age, nothing in the future).
    fn parse(value: &Value, now: DateTime<Utc>) -> Result<Self, Invalid>;

    fn id(&self) -> Option<Id>;

    fn set_id(&mut self, id: Id);

    /// Fills fields a server defaults to its own now, so the record is complete before it is
    /// written anywhere and a replay carries the same content.
    fn fill_defaults(&mut self, now: DateTime<Utc>);

    /// The Kafka key: the id, or for coupons the user, so one user's coupons stay in order.
    fn partition_key(&self) -> Option<Id> {
        self.id()
    }
}

impl Record for User {
    const KIND: Kind = Kind::Users;

    fn parse(value: &Value, now: DateTime<Utc>) -> Result<Self, Invalid> {
        User::parse(value, now)
    }

    fn id(&self) -> Option<Id> {
        self.id
    }

    fn set_id(&mut self, id: Id) {
        self.id = Some(id);
    }

    fn fill_defaults(&mut self, now: DateTime<Utc>) {
        self.registration_date.get_or_insert(now);
    }
}

impl Record for Event {
    const KIND: Kind = Kind::Events;

    fn parse(value: &Value, _now: DateTime<Utc>) -> Result<Self, Invalid> {
        Event::parse(value)
    }

    fn id(&self) -> Option<Id> {
        self.id
    }

    fn set_id(&mut self, id: Id) {
        self.id = Some(id);
    }

    fn fill_defaults(&mut self, _now: DateTime<Utc>) {}
}

impl Record for Coupon {
    const KIND: Kind = Kind::Coupons;

    fn parse(value: &Value, _now: DateTime<Utc>) -> Result<Self, Invalid> {
        Coupon::parse(value)
    }

    fn id(&self) -> Option<Id> {
        self.id
    }

    fn set_id(&mut self, id: Id) {
        self.id = Some(id);
    }

    fn fill_defaults(&mut self, now: DateTime<Utc>) {
        self.timestamp.get_or_insert(now);
    }

    fn partition_key(&self) -> Option<Id> {
        Some(self.user_id)
    }
}

/// A request body holding one record or an array of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch<R> {
    One(R),
    Many(Vec<R>),
}

impl<R> Batch<R> {
    pub fn into_vec(self) -> Vec<R> {
        match self {
            Self::One(r) => vec![r],
            Self::Many(rs) => rs,
        }
    }
}

/// A batch parsed from its whole tree: what [`parse_batch_text`] must answer for the same
/// body.
#[cfg(test)]
pub(crate) fn parse_batch<R: Record>(
    value: &Value,
    now: DateTime<Utc>,
) -> Result<Batch<R>, Invalid> {
    match value {
        Value::Array(items) => {
            check_batch_size(items.len())?;
            each(items, |v| R::parse(v, now)).map(Batch::Many)
        }
        one => R::parse(one, now).map(Batch::One),
    }
}

/// Parses a body of one record or an array of up to [`MAX_BATCH`], naming failures by index
/// (`[3].stake`): a batch is valid whole or not at all. No tree of the whole body is built:
/// an array is split into each record's text, and one record at a time becomes a [`Value`],
/// so what a request holds is its body and its records, not several times the body.
pub fn parse_batch_text<R: Record>(body: &str, now: DateTime<Utc>) -> Result<Batch<R>, Invalid> {
    parse_batch_text_with(body, |value| R::parse(value, now))
}

/// As [`parse_batch_text`], for a body a client sends a producer: a record's own id must also
/// stay below the range producers assign from (see [`check_client_id`]).
pub fn parse_client_batch_text<R: Record>(
    body: &str,
    now: DateTime<Utc>,
) -> Result<Batch<R>, Invalid> {
    parse_batch_text_with(body, |value| {
        match (R::parse(value, now), check_client_id(value)) {
            (parsed, Ok(())) => parsed,
            (Ok(_), Err(range)) => Err(range),
            (Err(mut invalid), Err(range)) => {
                // `id` comes first, as a record's fields are checked in that order.
                invalid.errors.splice(0..0, range.errors);
                Err(invalid)
            }
        }
    })
}

fn parse_batch_text_with<R>(
    body: &str,
    parse: impl Fn(&Value) -> Result<R, Invalid>,
) -> Result<Batch<R>, Invalid> {
    let not_json = |e: serde_json::Error| Invalid::here(format!("is not JSON: {e}"));
    if !body.trim_start().starts_with('[') {
        let value: Value = serde_json::from_str(body).map_err(not_json)?;
        return parse(&value).map(Batch::One);
    }
    let items: Vec<&RawValue> = serde_json::from_str(body).map_err(not_json)?;
    check_batch_size(items.len())?;
    each(items, |raw| {
        let value: Value = serde_json::from_str(raw.get()).map_err(not_json)?;
        parse(&value)
    })
    .map(Batch::Many)
}

/// A batch holds one to [`MAX_BATCH`] records.
fn check_batch_size(records: usize) -> Result<(), Invalid> {
    match records {
        0 => Err(Invalid::here("must hold at least one record")),
        n if n > MAX_BATCH => Err(Invalid::here(format!(
            "must hold at most {MAX_BATCH} records, found {n}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(country: &str) -> Value {
        json!({"birth_year": 1990, "country": country, "currency": "EUR", "gender": "M"})
    }

    #[test]
    fn a_batch_names_each_failing_record_by_index() {
        let body = json!([user("GR"), user("Greece"), user("GB"), user("XX")]);
        let error = parse_batch::<User>(&body, Utc::now()).expect_err("invalid");
        assert_eq!(
            error.fields().collect::<Vec<_>>(),
            ["[1].country", "[3].country"]
        );
    }

    #[test]
    fn a_body_as_text_is_parsed_as_its_tree_would_be() {
        let now = Utc::now();
        let bodies = [
            json!([user("GR"), user("Greece"), user("GB"), {"birth_year": "x"}]),
            json!([user("GR"), user("GB")]),
            json!(user("GR")),
            json!(user("Greece")),
            json!([]),
            Value::Array(vec![user("GR"); MAX_BATCH + 1]),
            json!(7),
            json!([7, "x", null]),
        ];
        for body in bodies {
            let text = format!("  {body}");
            let fields = |parsed: Result<Batch<User>, Invalid>| match parsed {
                Ok(Batch::One(_)) => vec!["one".to_owned()],
                Ok(Batch::Many(all)) => vec![format!("{}", all.len())],
                Err(e) => e.errors.iter().map(|e| format!("{e:?}")).collect(),
            };
            assert_eq!(
                fields(parse_batch_text(&text, now)),
                fields(parse_batch(&body, now)),
                "{text}"
            );
        }
    }

    #[test]
    fn batches_hold_one_to_a_thousand_records() {
        assert!(parse_batch::<User>(&json!([]), Utc::now()).is_err());
        let full = Value::Array(vec![user("GR"); MAX_BATCH]);
        assert!(
            matches!(parse_batch::<User>(&full, Utc::now()), Ok(Batch::Many(v)) if v.len() == MAX_BATCH)
        );
        let over = Value::Array(vec![user("GR"); MAX_BATCH + 1]);
        assert!(parse_batch::<User>(&over, Utc::now()).is_err());
        assert!(matches!(
            parse_batch::<User>(&user("GR"), Utc::now()),
            Ok(Batch::One(_))
        ));
    }

    #[test]
    fn defaults_are_filled_only_where_absent() {
        let now = Utc::now();
        let mut coupon = Coupon::parse(
            &json!({"user_id": 4, "stake": 1, "selections": [{"event_id": 1, "odds": 2}]}),
        )
        .expect("valid");
        coupon.fill_defaults(now);
        assert_eq!(coupon.timestamp, Some(now));
        assert_eq!(coupon.partition_key(), Some(4));
        let earlier = now - chrono::Duration::days(1);
        let mut user = User::parse(&json!({"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "M", "registration_date": earlier.to_rfc3339()}), now).expect("valid");
        user.fill_defaults(now);
        assert_eq!(user.registration_date, Some(earlier));
    }

    #[test]
    fn a_client_may_not_send_an_id_from_the_producers_range() {
        let floor = crate::GENERATED_ID_FLOOR;
        let mut own = user("GR");
        own["id"] = json!(floor - 1);
        let mut taken = user("GR");
        taken["id"] = json!(floor);
        let mut both = user("Greece");
        both["id"] = json!(i64::MAX);
        let body = json!([own, taken, both]).to_string();
        let error = parse_client_batch_text::<User>(&body, Utc::now()).expect_err("refused");
        assert_eq!(
            error.fields().collect::<Vec<_>>(),
            ["[1].id", "[2].id", "[2].country"]
        );
        assert!(parse_batch_text::<User>(&body.replace("Greece", "GR"), Utc::now()).is_ok());
        let one = parse_client_batch_text::<User>(&json!(own).to_string(), Utc::now());
        assert!(matches!(one, Ok(Batch::One(_))));
    }
}
