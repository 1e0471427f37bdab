//! promtool, from the same Debian package as Prometheus, on the committed config and rules.

use std::path::Path;
use std::process::Command;

use crate::files::prometheus_dir;

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
/// hostnames of the targets need not resolve for this.
#[test]
fn prometheus_config_passes_promtool_check_config() {
    promtool(&prometheus_dir(), &["check", "config", "prometheus.yml"]);
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
