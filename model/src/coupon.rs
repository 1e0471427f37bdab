use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;
use validator::ValidateRange;

use crate::error::{FieldError, Invalid};
use crate::fields::{array, each, Fields};

use crate::fixed::{parse_scaled, serialize_scaled};
use crate::id::{parse_id, Id};
use crate::timestamp::timestamp;

/// Most selections one coupon may carry.
pub const MAX_SELECTIONS: usize = 30;

/// A bet: a stake on one or more selections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Coupon {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub id: Option<Id>,
    /// A stored user, or the api answers 409 `missing-reference`.
    #[schema(value_type = i64, minimum = 1)]
    pub user_id: Id,
    pub stake: Stake,
    /// No event twice.
    #[schema(min_items = 1, max_items = 30)]
    pub selections: Vec<Selection>,
    /// When the bet was placed, RFC 3339; the server's now when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Selection {
    /// A stored event, or the api answers 409 `missing-reference`.
    #[schema(value_type = i64, minimum = 1)]
    pub event_id: Id,
    pub odds: Odds,
}

/// A stake in hundredths of the currency unit: exact, 0 < stake ≤ 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stake(i64);

/// Decimal odds in thousandths: exact, 1.01 ≤ odds ≤ 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Odds(i64);

impl Stake {
    pub const PLACES: u32 = 2;

    pub fn from_cents(cents: i64) -> Result<Self, Invalid> {
        if !cents.validate_range(Some(1), Some(100_000_000), None, None) {
            return Err(Invalid::here("must be more than 0 and at most 1000000"));
        }
        Ok(Self(cents))
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    fn from_json(value: &Value) -> Result<Self, Invalid> {
        Self::from_cents(parse_scaled(value, Self::PLACES)?)
    }
}

impl Odds {
    pub const PLACES: u32 = 3;

    pub fn from_thousandths(thousandths: i64) -> Result<Self, Invalid> {
        if !thousandths.validate_range(Some(1_010), Some(10_000_000), None, None) {
            return Err(Invalid::here("must be between 1.01 and 10000"));
        }
        Ok(Self(thousandths))
    }

    pub fn thousandths(self) -> i64 {
        self.0
    }

    fn from_json(value: &Value) -> Result<Self, Invalid> {
        Self::from_thousandths(parse_scaled(value, Self::PLACES)?)
    }
}

impl Serialize for Stake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_scaled(self.0, Self::PLACES, s)
    }
}

impl Serialize for Odds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_scaled(self.0, Self::PLACES, s)
    }
}

const FIELDS: &[&str] = &["id", "user_id", "stake", "selections", "timestamp"];

impl Coupon {
    pub fn parse(value: &Value) -> Result<Self, Invalid> {
        let mut f = Fields::new(value, FIELDS)?;
        let id = f.optional("id", parse_id);
        let user_id = f.required("user_id", parse_id);
        let stake = f.required("stake", Stake::from_json);
        let selections = f.required("selections", selections);
        let timestamp = f.optional("timestamp", timestamp);
        f.finish()?;
        // Every `None` was reported, so `finish` returned early; the `else` is a safety net.
        let (Some(id), Some(user_id), Some(stake), Some(selections), Some(timestamp)) =
            (id, user_id, stake, selections, timestamp)
        else {
            return Err(Invalid::here("invalid coupon"));
        };
        Ok(Self {
            id,
            user_id,
            stake,
            selections,
            timestamp,
        })
    }

    /// The events this coupon bets on, in selection order.
    pub fn event_ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.selections.iter().map(|s| s.event_id)
    }
}

fn selections(value: &Value) -> Result<Vec<Selection>, Invalid> {
    let items = array(value)?;
    if !(1..=MAX_SELECTIONS).contains(&items.len()) {
        return Err(Invalid::here(format!(
            "must hold 1 to {MAX_SELECTIONS} selections, found {}",
            items.len()
        )));
    }
    let selections = each(items, selection)?;
    let mut seen = HashSet::new();
    let repeated: Vec<FieldError> = selections
        .iter()
        .enumerate()
        .filter(|(_, s)| !seen.insert(s.event_id))
        .map(|(i, s)| FieldError {
            field: format!("[{i}].event_id"),
            message: format!("event {} is already selected in this coupon", s.event_id),
        })
        .collect();
    if !repeated.is_empty() {
        return Err(Invalid { errors: repeated });
    }
    Ok(selections)
}

fn selection(value: &Value) -> Result<Selection, Invalid> {
    let mut f = Fields::new(value, &["event_id", "odds"])?;
    let event_id = f.required("event_id", parse_id);
    let odds = f.required("odds", Odds::from_json);
    f.finish()?;
    match (event_id, odds) {
        (Some(event_id), Some(odds)) => Ok(Selection { event_id, odds }),
        _ => Err(Invalid::here("invalid selection")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({"user_id": 1, "stake": 10.5, "selections": [{"event_id": 7, "odds": 1.85}]})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut coupon = valid();
        coupon[field] = value;
        coupon
    }

    fn failing_fields(value: Value) -> Vec<String> {
        Coupon::parse(&value)
            .err()
            .map(|e| e.fields().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn stake(value: Value) -> Result<i64, Invalid> {
        Coupon::parse(&with("stake", value)).map(|c| c.stake.cents())
    }

    fn odds(value: Value) -> Result<i64, Invalid> {
        Coupon::parse(&with("selections", json!([{"event_id": 1, "odds": value}])))
            .map(|c| c.selections[0].odds.thousandths())
    }

    #[test]
    fn stakes_are_exact_with_at_most_two_decimals() {
        assert_eq!(stake(json!(0.01)), Ok(1));
        assert_eq!(stake(json!(0.1)), Ok(10));
        assert_eq!(stake(json!(1_000_000)), Ok(100_000_000));
        assert_eq!(stake(json!(999_999.99)), Ok(99_999_999));
        assert!(stake(json!(0)).is_err());
        assert!(stake(json!(-5)).is_err());
        assert!(stake(json!(1_000_000.01)).is_err());
        assert!(stake(json!(10.123)).is_err());
        assert!(stake(json!("ten")).is_err());
    }

    #[test]
    fn stakes_serialize_without_float_drift() {
        let coupon = Coupon::parse(&with("stake", json!(0.29))).expect("valid");
        assert_eq!(
            serde_json::to_string(&coupon.stake).ok().as_deref(),
            Some("0.29")
        );
    }

    #[test]
    fn odds_are_between_1_01_and_10000_with_three_decimals() {
        assert_eq!(odds(json!(1.01)), Ok(1_010));
        assert_eq!(odds(json!(10_000)), Ok(10_000_000));
        assert_eq!(odds(json!(2.125)), Ok(2_125));
        assert!(odds(json!(1.009)).is_err());
        assert!(odds(json!(1)).is_err());
        assert!(odds(json!(10_000.001)).is_err());
        assert!(odds(json!(2.1255)).is_err());
    }

    #[test]
    fn selections_hold_1_to_30_distinct_events() {
        let many = |n: i64| {
            json!((1..=n)
                .map(|id| json!({"event_id": id, "odds": 2}))
                .collect::<Vec<_>>())
        };
        assert!(Coupon::parse(&with("selections", many(30))).is_ok());
        assert_eq!(failing_fields(with("selections", many(31))), ["selections"]);
        assert_eq!(
            failing_fields(with("selections", json!([]))),
            ["selections"]
        );
        let twice = json!([{"event_id": 3, "odds": 2}, {"event_id": 4, "odds": 2}, {"event_id": 3, "odds": 3}]);
        assert_eq!(
            failing_fields(with("selections", twice)),
            ["selections[2].event_id"]
        );
    }

    #[test]
    fn every_failing_selection_field_is_named_by_index() {
        let bad = json!([{"event_id": 1, "odds": 2}, {"event_id": -1, "odds": 0.5}, {"odds": 2, "note": "x"}]);
        let mut fields = failing_fields(with("selections", bad));
        fields.sort();
        assert_eq!(
            fields,
            [
                "selections[1].event_id",
                "selections[1].odds",
                "selections[2].event_id",
                "selections[2].note"
            ]
        );
    }

    #[test]
    fn every_failing_field_is_reported_at_once() {
        let mut fields = failing_fields(
            json!({"id": "x", "stake": 0, "selections": {}, "timestamp": "yesterday", "bonus": 1}),
        );
        fields.sort();
        assert_eq!(
            fields,
            ["bonus", "id", "selections", "stake", "timestamp", "user_id"]
        );
    }

    #[test]
    fn serializes_to_the_body_the_api_accepts() {
        let body = json!({"id": 9, "user_id": 1, "stake": 10.5, "selections": [{"event_id": 7, "odds": 1.85}], "timestamp": "2026-01-01T00:00:00Z"});
        let coupon = Coupon::parse(&body).expect("valid");
        assert_eq!(serde_json::to_value(&coupon).ok(), Some(body));
    }
}
