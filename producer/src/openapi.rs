//! The producer's OpenAPI document, generated from the handlers' annotations.

use slipstream_model::{Coupon, Event, User};
use slipstream_runtime::openapi::{EdgeProblems, Secured};
use slipstream_runtime::Problem;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
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
    modifiers(&EdgeProblems, &Secured)
)]
struct ProducerDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ProducerDoc::openapi()
}

slipstream_runtime::one_or_batch!(Users of User, Events of Event, Coupons of Coupon, Receipts of Receipt);

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
