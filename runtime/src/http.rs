//! The layers and routes every service's HTTP edge shares.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, Auth, AuthArgs, Scope};
use crate::json::BodyLimit;
use crate::metrics;
use crate::problem::{self, Problem};
use crate::server::Limits;
use crate::trace_context;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// What every service's HTTP edge is told, flattened into each service's settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EdgeArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub limits: Limits,
    /// Serve the interactive docs at `/docs` and the OpenAPI document at `/openapi.json`
    /// (they hold no data and need no key); `false` takes both off.
    #[arg(long, env = "DOCS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub docs_enabled: bool,
}

/// `GET /` naming the service, `GET /health` saying the process is alive (both open), and
/// `GET /metrics` for keys with the `metrics` scope.
pub fn about_routes<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    version: &'static str,
) -> Router<S> {
    Router::new()
        .route(
            "/",
            get(move || async move { Json(json!({"service": service, "version": version})) }),
        )
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .merge(auth::scoped(Scope::Metrics, metrics::routes()))
}

/// How a service's edge treats each request.
#[derive(Debug, Clone)]
pub struct Edge {
    pub body_limit: usize,
    pub timeout: Duration,
    pub auth: Auth,
}

/// Wraps a service's routes in what every request needs: a request id (a client's
/// `x-request-id` kept only when well formed) on the response and in every log line, the
/// caller's key checked, a body limit, a timeout, problem+json for unknown routes and
/// methods, and a panic turned into a logged 500.
pub fn edge(router: Router, edge: Edge) -> Router {
    metrics::init();
    router
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            edge.auth,
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(edge.body_limit))
        .layer(Extension(BodyLimit(edge.body_limit)))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("A request handler panicked.");
            Problem::internal().into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            edge.timeout,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(log_failure),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(drop_malformed_context))
        .layer(axum::middleware::from_fn(metrics::record_http))
}

/// Removes a client's `x-request-id` and `traceparent` unless they are well formed (SPEC
/// §9), before anything logs them or copies them into a Kafka header; a new request id is
/// then made in their place.
async fn drop_malformed_context(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    for (name, valid) in [
        (
            REQUEST_ID,
            trace_context::valid_request_id as fn(&str) -> bool,
        ),
        (TRACEPARENT, trace_context::valid_traceparent),
    ] {
        if !one_valid(headers, &name, valid) {
            headers.remove(&name);
        }
    }
    next.run(request).await
}

/// Whether `name` appears exactly once, with a value `valid` accepts.
fn one_valid(headers: &HeaderMap, name: &HeaderName, valid: fn(&str) -> bool) -> bool {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().is_ok_and(valid),
        _ => false,
    }
}

/// The method as a log field or metric label: one of the standard ones, else `_OTHER`, so
/// a client inventing methods cannot add series or long fields.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// A 503 is an expected state (not ready yet, Kafka away) that the service already explains:
/// a warning, so readiness polls during a start do not page anyone. Other 5xx are errors.
fn log_failure(failure: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    let latency_ms = latency.as_millis() as u64;
    match failure {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::warn!(latency_ms, "Answered 503 Service Unavailable.");
        }
        failure => tracing::error!(%failure, latency_ms, "Request failed."),
    }
}

/// The span every log line about a request carries: its id, and the caller's W3C trace
/// context when it sent one, so a record can be followed from the producer to the api.
fn request_span(request: &Request) -> tracing::Span {
    let header = |name: &HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let span = tracing::info_span!(
        "request",
        method = method_label(request.method()),
        path = truncated(request.uri().path(), 256),
        request_id = header(&REQUEST_ID),
        traceparent = tracing::field::Empty,
        key_id = tracing::field::Empty,
    );
    let traceparent = header(&TRACEPARENT);
    if !traceparent.is_empty() {
        span.record("traceparent", traceparent);
    }
    span
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
