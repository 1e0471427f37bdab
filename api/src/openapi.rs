//! The api's OpenAPI document, generated from the handlers' annotations. `openapi.json` at the
//! repository root is this document, committed; a test fails when it is stale.

use slipstream_model::{Coupon, Event, User};
use slipstream_runtime::openapi::{one_or_batch_of, EdgeProblems, Secured};
use slipstream_runtime::Problem;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::OpenApi;

use crate::recommendations::routes;
use crate::{coupons, events, health, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Slipstream api",
        description = "Validates, stores and serves users, events and coupons, and recommends \
            events. Every error is `application/problem+json` (RFC 9457)."
    ),
    paths(
        users::create, users::read,
        events::create, events::read,
        coupons::create, coupons::read, coupons::of_user,
        routes::recommend, routes::generate,
        health::ready,
    ),
    components(schemas(Problem)),
    modifiers(&EdgeProblems, &Secured)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed: pretty JSON ending in a newline.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

slipstream_runtime::one_or_batch!(Users of User, Events of Event, Coupons of Coupon);

/// One record of a batch's answer: the status a POST of it alone would have had, and the
/// record as stored.
fn batch_item(item: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([201, 200]))
                .description(Some(
                    "201: created; 200: the identical record was already stored.",
                )),
        )
        .property("record", Ref::from_schema_name(item))
        .required("status")
        .required("record")
        .into()
}

/// Schemas of the answer to a POST of one record or a batch.
macro_rules! stored {
    ($($name:ident of $item:ty),*) => {$(
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let item = <$item as utoipa::ToSchema>::name();
                one_or_batch_of(&item, batch_item(&item))
            }
        }

        impl utoipa::ToSchema for $name {}
    )*};
}

stored!(UsersStored of User, EventsStored of Event, CouponsStored of Coupon);
