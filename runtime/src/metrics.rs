//! Prometheus metrics: one recorder per process, `GET /metrics` in the text format, and the
//! HTTP series every service shares. Names and units follow Prometheus conventions
//! (`_total` counters, `_seconds` histograms) so dashboards read alike across services.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets for latencies, from a cache hit (100 µs) to a request at its timeout (10 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the process's recorder on first use; in-process tests build several apps, and
/// they share it.
fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|builder| builder.install_recorder());
        let handle = match recorder {
            Ok(handle) => handle,
            // Another recorder was installed first: keep serving an empty page.
            Err(e) => {
                tracing::warn!(error = %e, "Metrics recorder not installed.");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        spawn_upkeep(handle.clone());
        let process = metrics_process::Collector::default();
        process.describe();
        describe_http();
        Exporter { handle, process }
    })
}

/// Histograms keep their samples until rendered; upkeep bounds them between scrapes.
fn spawn_upkeep(handle: PrometheusHandle) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

fn describe_http() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by route, method and status."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from request to response head, by route, method and status."
    );
}

/// Installs the recorder, so series recorded before the first scrape are kept.
pub fn init() {
    exporter();
}

/// `GET /metrics` in the Prometheus text format, process memory and CPU included.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/metrics", get(render))
}

async fn render() -> Response {
    let exporter = exporter();
    exporter.process.collect();
    let body = exporter.handle.render();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The two series of one route, method and status.
struct HttpSeries {
    requests: Counter,
    duration: Histogram,
}

/// A route template, method label and status: the labels of one pair of HTTP series.
type Answer = (&'static str, &'static str, u16);

/// Every handle made, so that each series is registered once whichever thread meets it first.
static HTTP_SERIES: OnceLock<Mutex<HashMap<Answer, Arc<HttpSeries>>>> = OnceLock::new();

/// Every route template met, each leaked once (they are the routers' own, a fixed set).
static ROUTE_LABELS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

thread_local! {
    /// This thread's copies of the handles: a request takes no lock and bumps no shared
    /// reference count, where the shared map's read lock and each handle's count were
    /// written by both cores on every request.
    static LOCAL_HTTP_SERIES: RefCell<HashMap<Answer, Arc<HttpSeries>>> = RefCell::default();
    static LOCAL_ROUTE_LABELS: RefCell<HashSet<&'static str>> = RefCell::default();
}

/// A route template as a `&'static str`, so that a request carries its route's label to its
/// answer without cloning the router's `Arc<str>` (a count both cores would write on every
/// request).
pub fn route_label(template: &str) -> &'static str {
    LOCAL_ROUTE_LABELS.with_borrow_mut(|local| {
        if let Some(label) = local.get(template) {
            return *label;
        }
        let mut all = ROUTE_LABELS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let label = match all.get(template) {
            Some(label) => *label,
            None => {
                let label: &'static str = Box::leak(template.into());
                all.insert(label);
                label
            }
        };
        local.insert(label);
        label
    })
}

/// Counts and times one answered request by its route template (not its path, so ids do not
/// make a series each; `unmatched` for requests no route matched), its method label (see
/// [`crate::http::method_label`]) and its status: every label comes from a fixed set.
pub fn record_http(route: &'static str, method: &'static str, status: StatusCode, took: Duration) {
    let answer = (route, method, status.as_u16());
    LOCAL_HTTP_SERIES.with_borrow_mut(|local| {
        let series = local
            .entry(answer)
            .or_insert_with(|| shared_http_series(answer));
        series.requests.increment(1);
        series.duration.record(took.as_secs_f64());
    });
}

fn shared_http_series(answer: Answer) -> Arc<HttpSeries> {
    let mut all = HTTP_SERIES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    all.entry(answer)
        .or_insert_with(|| {
            let (route, method, status) = answer;
            let labels = [
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ];
            Arc::new(HttpSeries {
                requests: metrics::counter!("http_requests_total", &labels),
                duration: metrics::histogram!("http_request_duration_seconds", &labels),
            })
        })
        .clone()
}
