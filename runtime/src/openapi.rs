//! The OpenAPI side of the HTTP edge: the problem responses every service's extractors can
//! give, and the routes that serve a service's document and its interactive docs.

use axum::Router;
use slipstream_model::MAX_BATCH;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder, Schema};
use utoipa::Modify;
use utoipa_swagger_ui::SwaggerUi;

use crate::problem::CONTENT_TYPE;

/// Adds to every operation the problems the shared extractors answer with, so each handler's
/// annotation lists only what it decides itself: a JSON body can be malformed (400), too
/// large (413), of another type (415) or invalid (422); a path or query parameter can be
/// malformed (400) or out of range (422).
#[derive(Debug)]
pub struct EdgeProblems;

impl Modify for EdgeProblems {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                add_edge_problems(operation);
            }
        }
    }
}

fn add_edge_problems(operation: &mut Operation) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
    let mut problems = Vec::new();
    if operation.request_body.is_some() {
        problems.extend([
            ("400", "The body is not JSON, or a parameter is malformed."),
            ("413", "The body is over the size limit."),
            ("415", "The body is not declared `application/json`."),
            (
                "422",
                "Validation failed; `errors` names every failing field.",
            ),
        ]);
    }
    if has(ParameterIn::Path) || has(ParameterIn::Query) {
        problems.push(("400", "A path or query parameter is malformed."));
    }
    if has(ParameterIn::Query) {
        problems.push((
            "422",
            "A query parameter is out of range; `errors` names it.",
        ));
    }
    for (status, description) in problems {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(description));
    }
}

/// The security scheme of SPEC §9 and what goes with it: the bearer scheme; `GET /`,
/// `/health` (open) and `/metrics` (scope `metrics`), which every service serves; and on
/// every operation that needs a key, its 401, 403 and 429 answers. Each handler's annotation
/// names its scope as `security(("bearer" = ["scope"]))`.
#[derive(Debug)]
pub struct Secured;

/// The name of the bearer scheme in every document.
pub const BEARER: &str = "bearer";

impl Modify for Secured {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("slp_<key id>_<secret>")
                    .description(Some(
                        "A key made by `slipstream-keys create`; each operation names the scope it needs (`admin` holds them all).",
                    ))
                    .build(),
            ),
        );
        add_service_routes(openapi);
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add_auth_problems(operation);
                }
            }
        }
    }
}

fn add_service_routes(openapi: &mut OpenApi) {
    let open = |summary: &str, description: &str| {
        OperationBuilder::new()
            .tag("service")
            .summary(Some(summary))
            .response(
                "200",
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", Content::new(None::<RefOr<Schema>>)),
            )
            .build()
    };
    let paths = &mut openapi.paths;
    paths.add_path_operation(
        "/",
        vec![HttpMethod::Get],
        open(
            "The service's name and version.",
            "`{\"service\", \"version\"}`.",
        ),
    );
    paths.add_path_operation(
        "/health",
        vec![HttpMethod::Get],
        open("Whether the process is alive.", "Alive."),
    );
    let metrics = OperationBuilder::new()
        .tag("service")
        .summary(Some("Prometheus metrics in the text format."))
        .security(SecurityRequirement::new(BEARER, ["metrics"]))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The metrics.")
                .content("text/plain", Content::new(None::<RefOr<Schema>>)),
        )
        .build();
    paths.add_path_operation("/metrics", vec![HttpMethod::Get], metrics);
}

fn add_auth_problems(operation: &mut Operation) {
    for (status, description) in [
        ("401", "`unauthenticated`: no key, or a malformed, unknown or revoked one (`WWW-Authenticate: Bearer`)."),
        ("403", "`forbidden`: the key lacks the scope this operation needs; `scope` names it."),
        ("429", "`rate-limited`: the key is over its request rate (`Retry-After` says when to come back)."),
    ] {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(description));
    }
}

/// A response whose body is a `Problem` as `application/problem+json`.
pub fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            CONTENT_TYPE,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
        .into()
}

/// One `item`, or an array of 1 to 1,000 of them: the body of a POST taking a batch.
pub fn one_or_batch(item: &str) -> RefOr<Schema> {
    one_or_batch_of(item, Ref::from_schema_name(item).into())
}

/// One `item`, or an array of 1 to 1,000 `items`: the answer to a POST taking a batch, which
/// may describe each record of a batch differently from a lone record.
pub fn one_or_batch_of(item: &str, items: RefOr<Schema>) -> RefOr<Schema> {
    let batch = ArrayBuilder::new()
        .items(items)
        .min_items(Some(1))
        .max_items(Some(MAX_BATCH));
    OneOfBuilder::new()
        .item(Ref::from_schema_name(item))
        .item(batch)
        .into()
}

/// Declares schema types for bodies holding one record or a batch of them:
/// `one_or_batch!(Users of User, ...)`. The calling crate depends on `utoipa`.
#[macro_export]
macro_rules! one_or_batch {
    ($($name:ident of $item:ty),* $(,)?) => {$(
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                $crate::openapi::one_or_batch(&<$item as utoipa::ToSchema>::name())
            }
        }

        impl utoipa::ToSchema for $name {}
    )*};
}

/// `GET /openapi.json` and the interactive docs at `GET /docs`: Swagger UI, its every asset
/// built into the binary (the `vendored` feature), so the page renders in a closed network;
/// "Authorize" takes a bearer key for trying requests.
pub fn docs_routes<S: Clone + Send + Sync + 'static>(openapi: OpenApi) -> Router<S> {
    SwaggerUi::new("/docs").url("/openapi.json", openapi).into()
}
