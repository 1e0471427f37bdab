//! Exact decimals for money and odds: parsed from the JSON text, stored as scaled integers.

use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serializer;
use serde_json::Value;

use crate::error::Invalid;
use crate::fields::kind_of;

/// Reads a JSON number (or a numeric string) as an integer count of `10^-places` units,
/// refusing anything with more decimal places than that rather than rounding it.
///
/// A JSON number arrives as an `f64`; its shortest round-trip text is the text the client
/// wrote for any value with at most 15 significant digits, so no binary drift gets in.
pub(crate) fn parse_scaled(value: &Value, places: u32) -> Result<i64, Invalid> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(Invalid::here(format!(
                "must be a number, found {}",
                kind_of(other)
            )));
        }
    };
    let decimal = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| Invalid::here(format!("`{text}` is not a decimal number")))?
        .normalize();
    if decimal.scale() > places {
        return Err(Invalid::here(format!(
            "must have at most {places} decimal places"
        )));
    }
    // Checked: `Decimal`'s `*` panics past its 96-bit range, which a client can reach.
    decimal
        .checked_mul(Decimal::from(10_i64.pow(places)))
        .and_then(|scaled| scaled.to_i64())
        .ok_or_else(|| Invalid::here("is out of range"))
}

/// Writes a scaled integer back as the JSON number it came from.
pub(crate) fn serialize_scaled<S: Serializer>(
    units: i64,
    places: u32,
    s: S,
) -> Result<S::Ok, S::Error> {
    let scale = 10_i64.pow(places);
    if units % scale == 0 {
        // Whole amounts stay integers: `5`, not `5.0`, as the client most likely wrote them.
        return s.serialize_i64(units / scale);
    }
    // Division by a power of ten is correctly rounded, so the nearest double's shortest text
    // is the exact decimal for the magnitudes used here.
    s.serialize_f64(units as f64 / scale as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_become_exact_scaled_integers() {
        assert_eq!(parse_scaled(&json!(10.1), 2), Ok(1010));
        assert_eq!(parse_scaled(&json!(0.29), 2), Ok(29));
        assert_eq!(parse_scaled(&json!(1_000_000), 2), Ok(100_000_000));
        assert_eq!(parse_scaled(&json!("19.99"), 2), Ok(1999));
        assert_eq!(parse_scaled(&json!(1e-2), 2), Ok(1));
        assert_eq!(parse_scaled(&json!(1.005), 3), Ok(1005));
    }

    #[test]
    fn extra_decimal_places_are_refused_not_rounded() {
        assert!(parse_scaled(&json!(10.001), 2).is_err());
        assert!(parse_scaled(&json!("0.1234"), 3).is_err());
        assert!(parse_scaled(&json!(1e-7), 2).is_err());
    }

    #[test]
    fn non_numbers_are_refused() {
        for bad in [
            json!(null),
            json!(true),
            json!("abc"),
            json!("NaN"),
            json!([1]),
            json!(1e300),
            json!("79228162514264337593543950335"),
            json!("1e27"),
        ] {
            assert!(parse_scaled(&bad, 2).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn serialized_values_round_trip_exactly() {
        for units in [1, 29, 500, 1010, 1999, 100_000_000, 123_456_789] {
            let text = serde_json::to_string(&Wrapper(units)).expect("serializes");
            let back: Value = serde_json::from_str(&text).expect("parses");
            assert_eq!(parse_scaled(&back, 2), Ok(units), "{text}");
        }
    }

    #[test]
    fn whole_amounts_serialize_as_integers() {
        assert_eq!(
            serde_json::to_string(&Wrapper(500)).ok().as_deref(),
            Some("5")
        );
        assert_eq!(
            serde_json::to_string(&Wrapper(550)).ok().as_deref(),
            Some("5.5")
        );
    }

    struct Wrapper(i64);

    impl serde::Serialize for Wrapper {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize_scaled(self.0, 2, s)
        }
    }
}
