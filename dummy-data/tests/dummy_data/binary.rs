use std::process::Command;

use tempfile::TempDir;

use crate::helpers::{read_files, sample_dir};

fn dummy_data(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dummy-data"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn binary_writes_the_sample_and_one_summary_line_per_file() {
    let dir = TempDir::new().expect("temporary directory");
    let out = dir.path().to_str().expect("UTF-8 path");
    let args = ["generate", "--size", "small", "--seed", "42"];
    let output =
        dummy_data(&[&args[..], &["--now", "2026-11-01T00:00:00Z", "--out", out]].concat());
    assert!(output.status.success(), "{output:?}");
    assert_eq!(read_files(dir.path()), read_files(&sample_dir()));
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (line, file) in lines
        .iter()
        .zip(["users.jsonl", "events.jsonl", "coupons.jsonl"])
    {
        assert!(
            line.starts_with(&format!("{file}: 100 records, ")),
            "{line}"
        );
        assert!(line.ends_with(" s"), "{line}");
    }
    assert!(lines[3].starts_with("total: 300 records, "), "{}", lines[3]);
}

#[test]
fn binary_refuses_coupons_without_events() {
    let dir = TempDir::new().expect("temporary directory");
    let out = dir.path().to_str().expect("UTF-8 path");
    let output = dummy_data(&["generate", "--events", "0", "--out", out]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("coupons need at least one user and one event"),
        "{stderr}"
    );
}
