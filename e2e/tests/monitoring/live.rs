//! The README's run command (`slipstream-dev up`) on free ports, scraped by a real Prometheus
//! with the committed jobs and alert rules while records flow through it.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use slipstream_devkit::{eventually, promql, wait_for_http, workspace_bin, DevKeys, Logs, Service};
use slipstream_runtime::auth::Scope;

use crate::files::{dashboard_queries, prometheus_dir, read};
use crate::prometheus::Prometheus;

const JOBS: [&str; 3] = ["api", "producer", "consumer"];
/// api, producer and one consumer per topic.
const TARGETS: usize = 5;
/// The topics in the order `up` gives their consumers ports (`--consumer-port` and the next two).
const TOPICS: [&str; 3] = ["users", "events", "coupons"];
const START_TIMEOUT: Duration = Duration::from_secs(120);
const SCRAPED_TIMEOUT: Duration = Duration::from_secs(30);

/// Ports for Kafka, the api, the producer, the first of the three consumers, and Prometheus:
/// free and below the ephemeral range, where `up` picks Kafka's controller port.
struct Ports {
    kafka: u16,
    api: u16,
    producer: u16,
    consumers: u16,
    prometheus: u16,
}

impl Ports {
    fn pick() -> Self {
        let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
        let start = 22_000 + (std::process::id() % 4_000) as u16 * 2;
        let mut candidates = (start..32_000).step_by(4).filter(|&p| (p..p + 3).all(free));
        let mut next = || candidates.next().expect("free ports below 32000");
        Self {
            kafka: next(),
            api: next(),
            producer: next(),
            consumers: next(),
            prometheus: next(),
        }
    }

    /// The compose targets of `prometheus.yml` and where they run here.
    fn targets(&self) -> Vec<(&'static str, u16)> {
        let consumers = [
            "consumer-users:8100",
            "consumer-events:8100",
            "consumer-coupons:8100",
        ];
        let mut targets = vec![("api:8098", self.api), ("producer:8099", self.producer)];
        targets.extend(consumers.into_iter().zip(self.consumers..));
        targets
    }
}

/// `slipstream-dev up` on `ports`, with its data and logs in `dir`, once every service is ready.
fn start_pipeline(dir: &Path, ports: &Ports) -> Service {
    let mut command = Command::new(workspace_bin("slipstream-dev"));
    command.arg("up").arg("--dir").arg(dir.join("pipeline"));
    for (flag, port) in [
        ("--kafka-port", ports.kafka),
        ("--api-port", ports.api),
        ("--producer-port", ports.producer),
        ("--consumer-port", ports.consumers),
    ] {
        command.arg(flag).arg(port.to_string());
    }
    command.env("LOG_FORMAT", "json");
    let up = Service::spawn("slipstream-dev", command, Logs::Dir(dir.to_path_buf()))
        .expect("start slipstream-dev up");
    let last_consumer = ports.consumers + TOPICS.len() as u16 - 1;
    let ready = format!("http://127.0.0.1:{last_consumer}/ready");
    if let Err(error) = wait_for_http(&ready, START_TIMEOUT) {
        panic!("{error:#}\n{}", up.log_tail(40));
    }
    up
}

/// Posts users, events and coupons to the producer; returns how many records it accepted.
async fn post_records(client: &reqwest::Client, producer: u16, key: &str) -> usize {
    let event = |id: u64, sport: &str| {
        json!({"id": id, "begin_timestamp": "2031-05-01T18:00:00Z",
               "end_timestamp": "2031-05-01T20:00:00Z", "country": "GB", "league": "League",
               "sport": sport, "participants": ["Home", "Away"]})
    };
    let user = |id: u64| json!({"id": id, "birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"});
    let coupon = |id: u64, user_id: u64, event_id: u64| {
        json!({"id": id, "user_id": user_id, "stake": 10.5,
               "selections": [{"event_id": event_id, "odds": 1.85}]})
    };
    let batches = [
        ("users", json!([user(1), user(2), user(3)])),
        (
            "events",
            json!([event(10, "football"), event(11, "tennis")]),
        ),
        ("coupons", json!([coupon(100, 1, 10), coupon(101, 2, 11)])),
    ];
    let mut accepted = 0;
    for (topic, records) in batches {
        let url = format!("http://127.0.0.1:{producer}/{topic}");
        let answer = client
            .post(url)
            .header("authorization", key)
            .json(&records)
            .send()
            .await
            .expect("post");
        assert_eq!(
            answer.status(),
            202,
            "{topic}: {}",
            answer.text().await.unwrap_or_default()
        );
        accepted += records.as_array().map_or(0, Vec::len);
    }
    accepted
}

/// Asks the api for recommendations until one succeeds for a user with coupons (favourite
/// sport) and one for a user without (popular), which the served counter then holds.
async fn read_recommendations(client: &reqwest::Client, api: u16, key: &str) {
    for user in [1, 3] {
        let url = format!("http://127.0.0.1:{api}/recommendation/{user}");
        eventually(
            &format!("recommendations for user {user}"),
            SCRAPED_TIMEOUT,
            || async {
                let answer = client.get(&url).header("authorization", key).send().await;
                answer.is_ok_and(|answer| answer.status() == 200)
            },
        )
        .await;
    }
}

/// Whether `promql` gives one sample per `expected` label value of `label`, each above zero.
async fn positive_for_each(
    prometheus: &Prometheus,
    promql: &str,
    label: &str,
    expected: &[&str],
) -> bool {
    let samples = prometheus.query(promql).await;
    let positive: BTreeSet<_> = samples
        .iter()
        .filter(|(_, value)| *value > 0.0)
        .filter_map(|(labels, _)| labels.get(label).cloned())
        .collect();
    expected.iter().all(|value| positive.contains(*value))
}

/// The single value of an aggregated query, 0 when there is none yet.
async fn scalar(prometheus: &Prometheus, promql: &str) -> f64 {
    let samples = prometheus.query(promql).await;
    samples.first().map_or(0.0, |(_, value)| *value)
}

/// Everything the test started; on a failing assertion the logs are printed, then every
/// process is killed with it.
struct Monitored {
    prometheus: Prometheus,
    up: Service,
}

impl Drop for Monitored {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- prometheus\n{}", self.prometheus.log_tail(30));
            eprintln!("--- slipstream-dev up\n{}", self.up.log_tail(60));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_every_service_while_records_flow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = Ports::pick();
    // Prometheus first: without it the test fails at once, not after the pipeline came up.
    let prometheus_dir = dir.path().join("prometheus");
    std::fs::create_dir(&prometheus_dir).expect("create the prometheus dir");
    // The keys `up` will find and keep, so Prometheus has its metrics key from the start.
    let pipeline_dir = dir.path().join("pipeline");
    std::fs::create_dir(&pipeline_dir).expect("create the pipeline dir");
    let keys = DevKeys::create(&pipeline_dir.join("keys"), 1_000_000).expect("keys");
    keys.write_credentials(&pipeline_dir.join("credentials.env"))
        .expect("credentials");
    let prometheus = Prometheus::start(
        &prometheus_dir,
        ports.prometheus,
        &ports.targets(),
        keys.key(Scope::Metrics),
    );
    let up = start_pipeline(dir.path(), &ports);
    let monitored = Monitored { prometheus, up };
    let prometheus = &monitored.prometheus;

    let client = reqwest::Client::new();
    let records = post_records(&client, ports.producer, &keys.bearer(Scope::Ingest)).await as f64;
    assert_key_series_are_non_zero(prometheus, records).await;
    read_recommendations(&client, ports.api, &keys.bearer(Scope::Recommend)).await;
    eventually("both strategies counted", SCRAPED_TIMEOUT, || {
        let promql = "sum by (strategy) (slipstream_recommendations_served_total)";
        positive_for_each(
            prometheus,
            promql,
            "strategy",
            &["favourite_sport", "popular"],
        )
    })
    .await;
    assert_every_rule_loaded_and_healthy(prometheus).await;
    assert_dashboards_and_rules_query_only_exported_metrics(prometheus).await;
}

/// Every job up, and the series an operator reads first carry what the records did.
async fn assert_key_series_are_non_zero(prometheus: &Prometheus, records: f64) {
    eventually("every target is up", SCRAPED_TIMEOUT, || async {
        scalar(prometheus, "count(up == 1)").await == TARGETS as f64
            && positive_for_each(prometheus, "min by (job) (up)", "job", &JOBS).await
    })
    .await;
    eventually("every job served HTTP requests", SCRAPED_TIMEOUT, || {
        positive_for_each(
            prometheus,
            "sum by (job) (http_requests_total)",
            "job",
            &JOBS,
        )
    })
    .await;
    eventually(
        "every service reports its memory",
        SCRAPED_TIMEOUT,
        || async {
            scalar(prometheus, "count(process_resident_memory_bytes > 0)").await == TARGETS as f64
        },
    )
    .await;
    let counted = [
        r#"sum(slipstream_producer_records_total{result="accepted"})"#,
        r#"sum(slipstream_consumer_messages_total{outcome="stored"})"#,
        r#"sum(slipstream_api_records_total{result="created"})"#,
    ];
    for promql in counted {
        eventually(
            &format!("{promql} == {records}"),
            SCRAPED_TIMEOUT,
            || async { scalar(prometheus, promql).await == records },
        )
        .await;
    }
    eventually(
        "each topic's consumer stored messages",
        SCRAPED_TIMEOUT,
        || {
            let promql = r#"sum by (topic) (slipstream_consumer_messages_total{outcome="stored"})"#;
            positive_for_each(prometheus, promql, "topic", &TOPICS)
        },
    )
    .await;
}

/// Every alert of `alerts.yml` loaded and evaluated against the live series without error.
async fn assert_every_rule_loaded_and_healthy(prometheus: &Prometheus) {
    let alerts = read(&prometheus_dir().join("alerts.yml"));
    let committed = alerts.matches("- alert:").count();
    assert!(committed > 0, "alerts.yml has no alerts");
    eventually(
        &format!("{committed} rules evaluated ok"),
        SCRAPED_TIMEOUT,
        || async {
            let rules = prometheus.rules().await;
            rules.len() == committed && rules.iter().all(|rule| rule["health"] == "ok")
        },
    )
    .await;
}

/// Every metric name in a dashboard panel or an alert rule is one Prometheus scraped. Some
/// series appear a little after start-up (consumer lag comes with librdkafka's statistics,
/// every 5 s), so the names are read again until none is missing or the time is up.
async fn assert_dashboards_and_rules_query_only_exported_metrics(prometheus: &Prometheus) {
    let mut queries = dashboard_queries();
    for rule in prometheus.rules().await {
        let name = rule["name"].as_str().unwrap_or_default();
        let query = rule["query"].as_str().unwrap_or_default();
        queries.push((format!("alert {name}"), query.to_owned()));
    }
    assert!(queries.len() > 20, "too few queries found: {queries:?}");
    let deadline = tokio::time::Instant::now() + SCRAPED_TIMEOUT;
    loop {
        let exported = prometheus.metric_names().await;
        let unknown = unknown_metrics(&queries, &exported);
        if unknown.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queries name metrics no service exports:\n{}\nexported: {exported:?}",
            unknown.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `<where>: <name>` for each metric name in `queries` that is not in `exported`.
fn unknown_metrics(queries: &[(String, String)], exported: &BTreeSet<String>) -> Vec<String> {
    let mut unknown = Vec::new();
    for (place, query) in queries {
        for name in promql::metric_names(query) {
            if !exported.contains(&name) {
                unknown.push(format!("{place}: {name}"));
            }
        }
    }
    unknown
}
