//! The producer's OpenAPI document, generated from the handlers' annotations.

use slipstream_model::{Coupon, Event, User, MAX_BATCH};
use slipstream_runtime::openapi::EdgeProblems;
use slipstream_runtime::Problem;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{OpenApi, PartialSchema, ToSchema};

use crate::publisher::Receipt;
use crate::records;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Slipstream producer",
        description = "Takes users, events and coupons, one or a batch of up to 1,000, and \
            answers 202 only once Kafka acknowledged them. Every error is \
            `application/problem+json` (RFC 9457)."
    ),
    paths(records::users, records::events, records::coupons),
    components(schemas(User, Event, Coupon, Receipt, Problem)),
    modifiers(&EdgeProblems)
)]
struct ProducerDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ProducerDoc::openapi()
}

/// One `item`, or an array of 1 to 1,000 of them.
fn one_or_batch(item: &str) -> RefOr<Schema> {
    let one = Ref::from_schema_name(item);
    let batch = ArrayBuilder::new()
        .items(one.clone())
        .min_items(Some(1))
        .max_items(Some(MAX_BATCH));
    OneOfBuilder::new().item(one).item(batch).into()
}

/// Schemas of bodies holding one record, or a batch answered with one receipt per record.
macro_rules! one_or_batch {
    ($($name:ident of $item:ty),*) => {$(
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                one_or_batch(&<$item as ToSchema>::name())
            }
        }

        impl ToSchema for $name {}
    )*};
}

one_or_batch!(Users of User, Events of Event, Coupons of Coupon, Receipts of Receipt);

impl PartialSchema for Receipt {
    fn schema() -> RefOr<Schema> {
        let integer = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some("Where Kafka holds a record."))
            .property("id", integer("The record's id, assigned when it had none."))
            .property("topic", ObjectBuilder::new().schema_type(Type::String))
            .property("partition", integer("Kafka partition."))
            .property("offset", integer("Offset in the partition."))
            .required("id")
            .required("topic")
            .required("partition")
            .required("offset")
            .into()
    }
}

impl ToSchema for Receipt {}
