//! Record ids, and the two id spaces that keep producer- and api-assigned ids apart.
//!
//! Below [`GENERATED_ID_FLOOR`] ids are the clients' own or the api's (from a counter that
//! passes over ids clients took); producers assign ids at or above it, and refuse a client's
//! own id there, so the two can never collide. Producer replicas stay apart by their node id.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::Invalid;
use crate::fields::integer;

/// A record id: a positive 64-bit integer.
pub type Id = i64;

/// Ids from here up are assigned by producers; the api assigns ids below.
pub const GENERATED_ID_FLOOR: Id = 1 << 62;

const SEQUENCE_BITS: u32 = 10;
const NODE_BITS: u32 = 10;
/// Milliseconds since 2025-01-01T00:00:00Z: 41 bits last until 2094.
const EPOCH_MS: u64 = 1_735_689_600_000;

pub(crate) fn parse_id(value: &Value) -> Result<Id, Invalid> {
    match integer(value)? {
        id if id > 0 => Ok(id),
        _ => Err("must be a positive integer".into()),
    }
}

/// A record's own id as a client may send it to a producer: below [`GENERATED_ID_FLOOR`],
/// so it can never collide with an id a producer assigns. (The api takes any positive id,
/// since the consumers forward it ids the producers assigned.)
pub(crate) fn check_client_id(value: &Value) -> Result<(), Invalid> {
    match value.get("id").and_then(Value::as_i64) {
        Some(id) if id >= GENERATED_ID_FLOOR => Err(Invalid::at(
            "id",
            format!("must be below 2^62 ({GENERATED_ID_FLOOR}): ids from there up are the producers' to assign"),
        )),
        _ => Ok(()),
    }
}

/// Snowflake-style ids: `2^62 | millis << 20 | node << 10 | sequence`.
///
/// Unique per node without coordination; distinct node ids keep replicas apart.
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    last: Mutex<(u64, u64)>,
}

impl IdGenerator {
    pub const MAX_NODE: u16 = (1 << NODE_BITS) - 1;

    /// `node` must be unique among running producers; it is truncated to 10 bits.
    pub fn new(node: u16) -> Self {
        Self {
            node: u64::from(node & Self::MAX_NODE),
            last: Mutex::new((0, 0)),
        }
    }

    pub fn next_id(&self) -> Id {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .saturating_sub(EPOCH_MS);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (millis, sequence) = next_slot(*last, now);
        *last = (millis, sequence);
        let id = (1 << 62)
            | (millis << (NODE_BITS + SEQUENCE_BITS))
            | (self.node << SEQUENCE_BITS)
            | sequence;
        id as Id
    }
}

/// Never goes back in time (a clock step back reuses the last millisecond) and borrows the next
/// millisecond when a millisecond's sequence numbers run out.
fn next_slot((last_millis, last_sequence): (u64, u64), now: u64) -> (u64, u64) {
    if now > last_millis {
        (now, 0)
    } else if last_sequence + 1 < (1 << SEQUENCE_BITS) {
        (last_millis, last_sequence + 1)
    } else {
        (last_millis + 1, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(parse_id(&Value::from(1)), Ok(1));
        assert_eq!(parse_id(&Value::from(i64::MAX)), Ok(i64::MAX));
        for bad in [
            Value::from(0),
            Value::from(-1),
            Value::from(1.5),
            Value::from("1"),
            Value::from(u64::MAX),
        ] {
            assert!(parse_id(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn generated_ids_are_unique_and_above_the_api_range() {
        let generator = IdGenerator::new(7);
        let ids: HashSet<Id> = (0..50_000).map(|_| generator.next_id()).collect();
        assert_eq!(ids.len(), 50_000);
        assert!(ids.iter().all(|&id| id >= GENERATED_ID_FLOOR));
    }

    #[test]
    fn nodes_never_share_an_id() {
        let (a, b) = (IdGenerator::new(1), IdGenerator::new(2));
        let ids: HashSet<Id> = (0..5_000)
            .flat_map(|_| [a.next_id(), b.next_id()])
            .collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn clock_going_back_or_sequence_exhausted_still_moves_forward() {
        assert_eq!(next_slot((100, 5), 90), (100, 6));
        assert_eq!(next_slot((100, 1023), 100), (101, 0));
        assert_eq!(next_slot((100, 3), 101), (101, 0));
    }
}
