//! The layers and routes every service's HTTP edge shares.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;
use slipstream_model::contract::{http_headers, ProblemType};
use tower::{Layer, Service};
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::{self, Auth, AuthArgs, Scope};
use crate::json::BodyLimit;
use crate::metrics;
use crate::problem::{self, Problem};
use crate::server::Limits;
use crate::trace_context;

pub const REQUEST_ID: HeaderName = HeaderName::from_static(http_headers::REQUEST_ID);
pub const TRACEPARENT: HeaderName = HeaderName::from_static(http_headers::TRACEPARENT);

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
/// methods, a panic turned into a logged 500, and the HTTP metrics.
///
/// All of it is one plain tower [`Layer`] rather than a layer each, or axum's `from_fn`:
/// every layer boxes a future and clones the route's service per request, and a layer that
/// maps the body boxes it again. What can be done before the handler runs is done in
/// [`Service::call`], so the route is called in place rather than cloned and the request's
/// future holds only what it needs afterwards.
pub fn edge(router: Router, edge: Edge) -> Router {
    metrics::init();
    router
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(EdgeLayer(Arc::new(edge)))
}

#[derive(Clone)]
struct EdgeLayer(Arc<Edge>);

impl<S> Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService {
            edge: self.0.clone(),
            inner,
        }
    }
}

/// A route behind the edge.
#[derive(Clone)]
struct EdgeService<S> {
    edge: Arc<Edge>,
    inner: S,
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    /// Every request, in order: its context headers checked, a request id given, its caller
    /// admitted, then (in [`run`]) its handler run under the timeout with panics caught,
    /// its answer logged when it failed, given the request id, and counted.
    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let edge = &*self.edge;
        let reply = Reply {
            method: method_label(request.method()),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map(|path| metrics::route_label(path.as_str())),
            request_id: with_request_id(request.headers_mut()),
        };
        if !request.body().is_end_stream() {
            request.extensions_mut().insert(BodyLimit(edge.body_limit));
        }
        let span = request_span(&request);
        let admitted = span.in_scope(|| auth::admit(&edge.auth, reply.route, &mut request));
        let handled = match admitted {
            Ok(admission) => Ok((admission, self.inner.call(request))),
            Err(refusal) => Err(refusal),
        };
        let timeout = edge.timeout;
        let answered = async move {
            let response = match handled {
                Ok((admission, handler)) => admission.finish(run(handler, started, timeout).await),
                Err(refusal) => refusal.into_response(),
            };
            let took = started.elapsed();
            log_answer(response.status(), took);
            Ok(reply.finish(response, took))
        };
        Box::pin(answered.instrument(span))
    }
}

/// What a request's answer is given and counted by.
struct Reply {
    method: &'static str,
    /// The route's template; `None` when no route matched.
    route: Option<&'static str>,
    request_id: Option<HeaderValue>,
}

impl Reply {
    fn finish(self, mut response: Response, took: Duration) -> Response {
        if let Some(id) = self.request_id {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        let route = self.route.unwrap_or("unmatched");
        metrics::record_http(route, self.method, response.status(), took);
        response
    }
}

/// The handler's answer, a 408 once it has taken longer than `limit` since `started`, or a
/// 500 if it panics. Most answers (a read from memory, a health check) are ready when first
/// polled: only a handler that has to wait gets a timer, whose handle on the runtime's clock
/// both cores would otherwise share on every request.
async fn run<F>(handler: F, started: Instant, limit: Duration) -> Response
where
    F: Future<Output = Result<Response, Infallible>>,
{
    let mut run = pin!(AssertUnwindSafe(handler).catch_unwind());
    let ran = match futures::poll!(run.as_mut()) {
        Poll::Ready(ran) => ran,
        Poll::Pending => {
            let deadline = tokio::time::Instant::from_std(started) + limit;
            match tokio::time::timeout_at(deadline, run).await {
                Ok(ran) => ran,
                Err(_elapsed) => return timed_out(limit),
            }
        }
    };
    match ran {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_panic) => {
            tracing::error!("A request handler panicked.");
            Problem::internal().into_response()
        }
    }
}

/// Removes a client's `x-request-id` and `traceparent` unless they are well formed (SPEC
/// §9), before anything logs them or copies them into a Kafka header, and makes a new
/// request id in place of a missing or removed one; returns the request id.
fn with_request_id(headers: &mut HeaderMap) -> Option<HeaderValue> {
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
    if let Some(id) = headers.get(REQUEST_ID) {
        return Some(id.clone());
    }
    let mut buffer = Uuid::encode_buffer();
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    // Two values made from the text rather than one cloned: a clone of a value made from
    // a slice allocates to share it.
    headers.insert(REQUEST_ID, HeaderValue::from_str(text).ok()?);
    HeaderValue::from_str(text).ok()
}

fn timed_out(limit: Duration) -> Response {
    Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        ProblemType::Timeout,
        format!(
            "The request took longer than {} s; it may have been carried out or not.",
            limit.as_secs()
        ),
    )
    .into_response()
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

/// A line per answer at debug level. A 503 is an expected state (not ready yet, Kafka away)
/// that the service already explains: a warning, so readiness polls during a start do not
/// page anyone. Other 5xx are errors.
fn log_answer(status: StatusCode, latency: Duration) {
    let latency_ms = latency.as_millis() as u64;
    let code = status.as_u16();
    match status {
        StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!(latency_ms, "Answered 503 Service Unavailable.");
        }
        status if status.is_server_error() => {
            tracing::error!(status = code, latency_ms, "Request failed.");
        }
        _ => tracing::debug!(status = code, latency_ms, "Answered."),
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

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        let routes = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/panics",
                get(|| async {
                    if true {
                        panic!("a handler bug");
                    }
                    "unreachable"
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        edge(
            routes,
            Edge {
                body_limit: 1024,
                timeout: Duration::from_millis(50),
                auth: Auth::Disabled,
            },
        )
    }

    async fn get_with(path: &str, request_id: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::get(path);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id);
        }
        let request = request.body(Body::empty()).expect("a request");
        let response = app().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, usize::MAX).await.expect("a body");
        let body = String::from_utf8(body.to_vec()).expect("UTF-8");
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_and_a_slow_one_a_408() {
        let (status, headers, body) = get_with("/panics", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers["content-type"], problem::CONTENT_TYPE);
        assert!(body.contains(r#""type":"internal""#), "{body}");
        assert!(!body.contains("a handler bug"), "the panic leaked: {body}");
        let (status, _, body) = get_with("/slow", None).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(body.contains(r#""type":"timeout""#), "{body}");
        let (status, _, body) = get_with("/nowhere", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(r#""type":"not-found""#), "{body}");
    }

    #[tokio::test]
    async fn every_answer_carries_the_request_id_kept_when_well_formed_made_otherwise() {
        let (_, headers, _) = get_with("/ok", Some("abc-123")).await;
        assert_eq!(headers[REQUEST_ID], "abc-123");
        for (path, sent) in [
            ("/ok", None),
            ("/ok", Some("a b")),
            ("/panics", Some("x".repeat(500).as_str())),
        ] {
            let (_, headers, _) = get_with(path, sent).await;
            let made = headers[REQUEST_ID].to_str().expect("ASCII");
            assert!(Uuid::parse_str(made).is_ok(), "{path} {sent:?}: {made}");
        }
    }
}
