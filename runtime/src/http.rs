//! The layers and routes every service's HTTP edge shares.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::json::BodyLimit;
use crate::metrics;
use crate::problem::{self, Problem};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// `GET /` naming the service, and `GET /health` saying the process is alive.
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
        .merge(metrics::routes())
}

/// Wraps a service's routes in what every request needs: a request id (taken from
/// `x-request-id` or made) on the response and in every log line, a body limit, a timeout,
/// problem+json for unknown routes and methods, and a panic turned into a logged 500.
pub fn edge(router: Router, body_limit: usize, timeout: Duration) -> Router {
    metrics::init();
    router
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(Extension(BodyLimit(body_limit)))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("A request handler panicked.");
            Problem::internal().into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(log_failure),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(metrics::record_http))
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
        method = %request.method(),
        path = %request.uri().path(),
        request_id = header(&REQUEST_ID),
        traceparent = tracing::field::Empty,
    );
    let traceparent = header(&TRACEPARENT);
    if !traceparent.is_empty() {
        span.record("traceparent", traceparent);
    }
    span
}
