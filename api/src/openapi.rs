//! The api's OpenAPI document, generated from the handlers' annotations. `openapi.json` at the
//! repository root is this document, committed; a test fails when it is stale.

use slipstream_runtime::openapi::EdgeProblems;
use slipstream_runtime::Problem;
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
    modifiers(&EdgeProblems)
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
