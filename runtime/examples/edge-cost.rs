//! What our HTTP edge costs per request, without TCP or a load generator in the way: the
//! same `/health` handler called in process, bare and behind [`http::edge`], in alternating
//! rounds on one thread; prints each round and the medians. Over TCP the edge's share is
//! buried in the kernel's (about half of a request's CPU) and in wrk's noise, so a change to
//! the edge is judged here first, then confirmed by `scripts/bench-recommendations.sh`.
//!
//!   cargo run --release -p slipstream-runtime --example edge-cost -- [requests per round]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use slipstream_runtime::auth::Auth;
use slipstream_runtime::http::{self, Edge};
use tower::ServiceExt;

const ROUNDS: usize = 7;

#[allow(clippy::print_stdout)] // The figures are this command's output.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let requests: u32 = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 200_000,
    };
    let bare = Router::new().route("/health", get(|| async { Json(json!({"status": "ok"})) }));
    let edge = Edge {
        body_limit: http::DEFAULT_BODY_LIMIT,
        timeout: Duration::from_secs(30),
        auth: Auth::Disabled,
    };
    let edged = http::edge(bare.clone(), edge);
    let (mut bare_ns, mut edged_ns) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        bare_ns.push(ns_per_request(&bare, requests).await?);
        edged_ns.push(ns_per_request(&edged, requests).await?);
        println!(
            "round {round}: bare {:.0} ns, edge {:.0} ns",
            bare_ns[round - 1],
            edged_ns[round - 1]
        );
    }
    let (bare, edged) = (median(bare_ns), median(edged_ns));
    println!(
        "{requests} requests a round, medians: bare {bare:.0} ns/request, behind the edge \
         {edged:.0} ns/request; the edge adds {:.0} ns ({:.2} of bare throughput in process)",
        edged - bare,
        bare / edged
    );
    Ok(())
}

async fn ns_per_request(app: &Router, requests: u32) -> anyhow::Result<f64> {
    let started = Instant::now();
    for _ in 0..requests {
        let request = Request::get("/health")
            .header("host", "127.0.0.1")
            .body(Body::empty())?;
        let response = app.clone().oneshot(request).await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        axum::body::to_bytes(response.into_body(), 1024).await?;
    }
    Ok(started.elapsed().as_nanos() as f64 / f64::from(requests))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
