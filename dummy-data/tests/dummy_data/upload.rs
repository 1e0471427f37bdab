//! `dummy-data upload` against a fake producer on a local port, which answers 202 to every
//! post and counts the records.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use dummy_data::generate::generate;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{config, counts, sample_dir};

/// Serves a producer taking anything on a free port; returns its URL and its record count.
async fn fake_producer() -> (String, Arc<AtomicUsize>) {
    let received = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/{entity}", post(take))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn take(State(received): State<Arc<AtomicUsize>>, body: String) -> StatusCode {
    let records = match serde_json::from_str(&body).expect("the uploader posts JSON") {
        Value::Array(records) => records.len(),
        _ => 1,
    };
    received.fetch_add(records, Ordering::Relaxed);
    StatusCode::ACCEPTED
}

async fn upload(dir: &str, producer: &str, extra: &[&str]) -> String {
    let args = ["upload", "--dir", dir, "--producer-url", producer];
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dummy-data"))
        .args(args)
        .args(extra)
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The whitespace-separated words of the line starting with `start`.
fn words<'a>(stdout: &'a str, start: &str) -> Vec<&'a str> {
    let line = stdout.lines().find(|l| l.starts_with(start));
    let line = line.unwrap_or_else(|| panic!("no `{start}` line in:\n{stdout}"));
    line.split_whitespace().collect()
}

fn seconds(value: &str) -> Duration {
    Duration::from_secs_f64(value.parse().expect("a number"))
}

#[tokio::test]
async fn upload_at_a_rate_takes_the_records_over_the_rate_and_reports_it() {
    let data = TempDir::new().expect("temporary directory");
    generate(&config(counts(700, 700, 700), 3), data.path()).expect("generates");
    let (producer, received) = fake_producer().await;
    let started = Instant::now();

    let dir = data.path().to_str().expect("UTF-8 path");
    let stdout = upload(dir, &producer, &["--batch", "10", "--rate", "2000"]).await;

    // 2,100 records at 2,000 records/s: each entity's last batch is due 690/2000 s after its
    // start, so no sooner than 1.035 s in all. Only a lower bound: a busy machine is slower.
    assert!(started.elapsed() >= Duration::from_secs(1), "{stdout}");
    assert!(
        seconds(words(&stdout, "total")[2]) >= Duration::from_secs(1),
        "{stdout}"
    );
    assert_eq!(received.load(Ordering::Relaxed), 2_100);
    let rate = words(&stdout, "rate:");
    assert_eq!(
        rate[..4],
        ["rate:", "asked", "2000", "records/s,"],
        "{stdout}"
    );
    let offered: f64 = rate[5].parse().expect("a number");
    assert!(
        offered > 0.0 && offered <= 2_000.0,
        "never above the asked: {stdout}"
    );
    assert_eq!(words(&stdout, "late:")[3], "210", "batches: {stdout}");
    for from in ["accept from send:", "accept from schedule:"] {
        let latency = words(&stdout, from);
        assert_eq!((latency[3], latency[6], latency[9]), ("p50", "p99", "max"));
    }
}

#[tokio::test]
async fn upload_without_a_rate_prints_the_table_alone() {
    let (producer, received) = fake_producer().await;

    let dir = sample_dir();
    let stdout = upload(
        dir.to_str().expect("UTF-8 path"),
        &producer,
        &["--batch", "7"],
    )
    .await;

    assert_eq!(received.load(Ordering::Relaxed), 300);
    assert_eq!(
        stdout.lines().count(),
        5,
        "header, three entities, total: {stdout}"
    );
    assert_eq!(words(&stdout, "total")[1], "300");
}
