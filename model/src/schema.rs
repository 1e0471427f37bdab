//! How the value types appear in an OpenAPI document. They parse from JSON by hand (to report
//! every failing field), so their schemas are written here rather than derived.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::coupon::{Odds, Stake};
use crate::values::{Country, Currency, Gender};

fn string(description: &str, pattern: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .examples([example])
        .into()
}

fn decimal(description: &str, maximum: f64, example: f64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .description(Some(description))
        .maximum(Some(maximum))
        .examples([example])
}

impl PartialSchema for Country {
    fn schema() -> RefOr<Schema> {
        string(
            "ISO 3166-1 alpha-2 code in upper case; `UK` and `JPN` are accepted and stored as `GB` and `JP`.",
            "^([A-Z]{2}|JPN)$",
            "GR",
        )
    }
}
impl ToSchema for Country {}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        string("An active ISO 4217 alphabetic code.", "^[A-Z]{3}$", "EUR")
    }
}
impl ToSchema for Currency {}

impl PartialSchema for Gender {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["M", "F", "X"]))
            .into()
    }
}
impl ToSchema for Gender {}

impl PartialSchema for Stake {
    fn schema() -> RefOr<Schema> {
        decimal(
            "More than 0, at most 1,000,000, with at most 2 decimal places (stored exactly). \
             A numeric string is accepted too.",
            1_000_000.0,
            10.5,
        )
        .exclusive_minimum(Some(0.0))
        .into()
    }
}
impl ToSchema for Stake {}

impl PartialSchema for Odds {
    fn schema() -> RefOr<Schema> {
        decimal(
            "1.01 to 10,000 with at most 3 decimal places. A numeric string is accepted too.",
            10_000.0,
            1.85,
        )
        .minimum(Some(1.01))
        .into()
    }
}
impl ToSchema for Odds {}
