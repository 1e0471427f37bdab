//! promtool, from the same Debian package as Prometheus, on the committed config and rules.

use std::path::Path;
use std::process::Command;

use crate::files::{prometheus_dir, read};

/// Runs `promtool` with `args` in `dir` and fails the test, with its output, unless it succeeds.
fn promtool(dir: &Path, args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| {
            panic!("promtool could not run ({error}): install Debian's `prometheus` package")
        });
    assert!(
        output.status.success(),
        "promtool {}: {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Checks the config and, through its `rule_files`, every rule file it loads. The compose
/// hostnames of the targets need not resolve for this; the metrics key compose mounts must
/// exist, so the check runs on a copy that reads a stand-in key file.
#[test]
fn prometheus_config_passes_promtool_check_config() {
    let dir = tempfile::tempdir().expect("a directory");
    let key = dir.path().join("metrics-key");
    std::fs::write(&key, "stand-in").expect("key file");
    let committed = read(&prometheus_dir().join("prometheus.yml"));
    let config = committed.replace(
        "/run/secrets/slipstream-metrics-key",
        &key.display().to_string(),
    );
    assert_ne!(config, committed, "the config reads no metrics key");
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config copy");
    std::fs::copy(
        prometheus_dir().join("alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .expect("rules copy");
    promtool(dir.path(), &["check", "config", "prometheus.yml"]);
}

#[test]
fn alert_rules_pass_promtool_check_rules() {
    promtool(&prometheus_dir(), &["check", "rules", "alerts.yml"]);
}

/// `tests/alerts_test.yml`: which alerts fire, when, with which labels and annotations.
#[test]
fn alert_rules_fire_as_their_unit_tests_expect() {
    promtool(
        &prometheus_dir(),
        &["test", "rules", "tests/alerts_test.yml"],
    );
}
