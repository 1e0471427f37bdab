//! A real Prometheus on 127.0.0.1 with the committed config, its targets moved to local ports,
//! and a client for the parts of its HTTP API the tests read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use slipstream_devkit::{wait_for_http, Logs, Service};

use crate::files::{prometheus_dir, read};

/// Scrapes and rule evaluations every second instead of every 5, so the test waits little.
const INTERVAL: &str = "1s";

/// Where the committed `prometheus.yml` reads the metrics key, as compose mounts it.
const METRICS_KEY: &str = "/run/secrets/slipstream-metrics-key";

/// The committed `prometheus.yml` with each compose target (`api:8098`, ...) replaced by the
/// local address of `targets`, the metrics key read from `metrics_key`, and faster
/// intervals. Every other line (jobs, labels, rule files) is kept, so the test scrapes what
/// compose would.
///
/// # Panics
/// When a target or interval is not in the committed config exactly once, or a target is
/// left that `targets` does not move: the config changed and this test must follow.
pub fn local_config(committed: &str, targets: &[(&str, u16)], metrics_key: &Path) -> String {
    let jobs = committed.matches("job_name:").count();
    assert_eq!(
        committed
            .matches(&format!("credentials_file: {METRICS_KEY}"))
            .count(),
        jobs,
        "every job must scrape with the metrics key"
    );
    let mut config = committed.replace(METRICS_KEY, &metrics_key.display().to_string());
    for (target, port) in targets {
        let local = format!("\"127.0.0.1:{port}\"");
        config = replace_once(&config, &format!("\"{target}\""), &local);
    }
    for key in ["scrape_interval", "evaluation_interval"] {
        config = replace_once(
            &config,
            &format!("{key}: 5s"),
            &format!("{key}: {INTERVAL}"),
        );
    }
    let left: Vec<_> = config
        .lines()
        .filter(|line| line.contains("targets:") && !line.contains("127.0.0.1"))
        .collect();
    assert!(left.is_empty(), "targets with no local address: {left:?}");
    config
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` should appear once in the committed prometheus.yml"
    );
    text.replacen(from, to, 1)
}

/// A running `prometheus` and an HTTP client for it.
pub struct Prometheus {
    service: Service,
    base: String,
    client: reqwest::Client,
}

impl Prometheus {
    /// Writes the local config next to copies of the committed rule files in `dir` (where the
    /// config's relative `rule_files` find them), starts Prometheus and waits until it is ready.
    pub fn start(dir: &Path, port: u16, targets: &[(&str, u16)], metrics_key: &str) -> Self {
        let committed = read(&prometheus_dir().join("prometheus.yml"));
        let key_file = dir.join("metrics-key");
        fs::write(&key_file, metrics_key).expect("write the metrics key");
        fs::write(
            dir.join("prometheus.yml"),
            local_config(&committed, targets, &key_file),
        )
        .expect("write the local prometheus.yml");
        copy_rule_files(dir);
        let mut command = Command::new("prometheus");
        command
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let service = Service::spawn("prometheus", command, Logs::Dir(dir.to_path_buf()))
            .unwrap_or_else(|error| panic!("{error:#}: install Debian's `prometheus` package"));
        let base = format!("http://127.0.0.1:{port}");
        if let Err(error) = wait_for_http(&format!("{base}/-/ready"), Duration::from_secs(30)) {
            panic!("{error:#}\n{}", service.log_tail(30));
        }
        Self {
            service,
            base,
            client: reqwest::Client::new(),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.service.log_tail(lines)
    }

    /// The samples of an instant query: labels and value.
    pub async fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let data = self.get("/api/v1/query", &[("query", promql)]).await;
        let result = data["result"].as_array().cloned().unwrap_or_default();
        result.iter().map(sample).collect()
    }

    /// Every rule Prometheus loaded, as `/api/v1/rules` reports it.
    pub async fn rules(&self) -> Vec<Value> {
        let data = self.get("/api/v1/rules", &[]).await;
        let groups = data["groups"].as_array().cloned().unwrap_or_default();
        groups
            .iter()
            .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Every metric name Prometheus holds a series of: what the services exported (histograms
    /// as their `_bucket`, `_sum` and `_count`) and Prometheus's own `up` and `scrape_*`.
    pub async fn metric_names(&self) -> BTreeSet<String> {
        let data = self.get("/api/v1/label/__name__/values", &[]).await;
        let names = data.as_array().cloned().unwrap_or_default();
        names
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect()
    }

    /// GETs an API path and returns its `data`; an unreachable Prometheus or an error answer
    /// gives `Null`, which the callers' conditions treat as "not yet".
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let request = self.client.get(format!("{}{path}", self.base)).query(query);
        let Ok(answer) = request.send().await else {
            return Value::Null;
        };
        let body: Value = answer.json().await.unwrap_or_default();
        if body["status"] != "success" {
            eprintln!("prometheus {path} {query:?}: {body}");
            return Value::Null;
        }
        body["data"].clone()
    }
}

/// Copies every rule file of `monitoring/prometheus` (its top-level YAML other than the config).
fn copy_rule_files(dir: &Path) {
    let source = prometheus_dir();
    for entry in fs::read_dir(&source).expect("read monitoring/prometheus") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().unwrap_or_default();
        let is_rules = path.extension().is_some_and(|ext| ext == "yml") && name != "prometheus.yml";
        if is_rules {
            fs::copy(&path, dir.join(name)).expect("copy a rule file");
        }
    }
}

/// One element of an instant vector: `{"metric": {...}, "value": [time, "1.5"]}`.
fn sample(element: &Value) -> (BTreeMap<String, String>, f64) {
    let labels = element["metric"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let value = element["value"][1]
        .as_str()
        .and_then(|value| value.parse().ok())
        .unwrap_or(f64::NAN);
    (labels, value)
}

#[test]
fn local_config_moves_every_target_and_keeps_jobs_and_rules() {
    let committed = read(&prometheus_dir().join("prometheus.yml"));
    let targets = [
        ("api:8098", 1),
        ("producer:8099", 2),
        ("consumer-users:8100", 3),
        ("consumer-events:8100", 4),
        ("consumer-coupons:8100", 5),
    ];
    let local = local_config(&committed, &targets, Path::new("/tmp/key"));
    assert_eq!(
        local.matches("credentials_file: /tmp/key").count(),
        3,
        "{local}"
    );
    for port in 1..=5 {
        assert!(local.contains(&format!("\"127.0.0.1:{port}\"")), "{local}");
    }
    let kept = |line: &&str| line.contains("job_name") || line.contains("alerts.yml");
    assert_eq!(
        committed.lines().filter(kept).collect::<Vec<_>>(),
        local.lines().filter(kept).collect::<Vec<_>>()
    );
}
