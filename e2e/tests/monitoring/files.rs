//! The committed files of `monitoring/`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// `monitoring/` at the workspace root.
pub fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate is inside the workspace")
        .join("monitoring")
}

pub fn prometheus_dir() -> PathBuf {
    monitoring_dir().join("prometheus")
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every Grafana dashboard, by file name, parsed.
pub fn dashboards() -> Vec<(String, Value)> {
    let dir = monitoring_dir().join("grafana/dashboards");
    let mut found: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let json = serde_json::from_str(&read(&path))
                .unwrap_or_else(|error| panic!("{name} is not JSON: {error}"));
            (name.into_owned(), json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no dashboards in {}", dir.display());
    found
}

/// Every panel of a dashboard.
pub fn panels(dashboard: &Value) -> &[Value] {
    dashboard["panels"].as_array().map_or(&[], Vec::as_slice)
}

/// The PromQL of every dashboard panel, each named `<file> / <panel title>`.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("untitled");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    queries.push((format!("{file} / {title}"), expr.to_owned()));
                }
            }
        }
    }
    queries
}
