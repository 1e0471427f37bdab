//! `dummy-data upload` against the real pipeline: the checked-in sample goes in, the table
//! counts it, `--verify` sees it all, and the api holds every record.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use slipstream_devkit::workspace_bin;

use slipstream_runtime::auth::Scope;

use crate::helpers::Pipeline;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dummy-data/sample")
}

async fn upload(pipeline: &Pipeline, extra: &[&str]) -> Output {
    tokio::process::Command::new(workspace_bin("dummy-data"))
        .arg("upload")
        .arg("--dir")
        .arg(sample())
        .args(["--producer-url", &pipeline.producer_url])
        .env("SLIPSTREAM_INGEST_KEY", pipeline.keys.key(Scope::Ingest))
        .env("SLIPSTREAM_READ_KEY", pipeline.keys.key(Scope::Read))
        .args(extra)
        .output()
        .await
        .expect("dummy-data runs")
}

/// The table's row for `entity`, split on whitespace.
fn row<'a>(stdout: &'a str, entity: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&entity))
        .unwrap_or_else(|| panic!("no row for {entity} in:\n{stdout}"))
}

fn sample_records(entity: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(sample().join(format!("{entity}.jsonl"))).expect("sample");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

#[tokio::test]
async fn upload_with_verify_puts_the_whole_sample_in_the_api_and_counts_it() {
    let pipeline = Pipeline::start().await;

    let output = upload(
        &pipeline,
        &[
            "--batch",
            "7",
            "--concurrency",
            "8",
            "--verify",
            "--api-url",
            &pipeline.api_url,
        ],
    )
    .await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    for entity in ["users", "events", "coupons"] {
        let cells = row(&stdout, entity);
        assert_eq!(
            (cells[1], cells[4]),
            ("100", "0"),
            "amount and errors of {entity}"
        );
        for record in sample_records(entity) {
            let path = format!("/{entity}/{}", record["id"]);
            let stored = pipeline.get(&path).await;
            assert_eq!(
                stored.map(|s| s["id"].clone()),
                Some(record["id"].clone()),
                "{path}"
            );
        }
    }
    assert_eq!(row(&stdout, "total")[1], "300");
    assert!(stdout.contains("verify: every record visible"), "{stdout}");
}

#[tokio::test]
async fn verify_fails_and_names_the_missing_ids_when_the_api_never_shows_them() {
    let pipeline = Pipeline::start().await;

    // The producer does not serve GET /users/{id}: to --verify nothing ever shows up.
    let output = upload(
        &pipeline,
        &[
            "--batch",
            "100",
            "--verify",
            "--verify-timeout",
            "1",
            "--api-url",
            &pipeline.producer_url,
        ],
    )
    .await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("verify: 100 users missing: 1, 2, 3"),
        "{stdout}"
    );
    assert!(stdout.contains("100 coupons missing"), "{stdout}");
}
