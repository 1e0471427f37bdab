//! SPEC §9 across the real services: every route of every service answers by the scope its
//! OpenAPI document declares, a key made or revoked with `slipstream-keys` takes effect on
//! every service within 5 s, and a client's oversized request id or malformed traceparent
//! never reaches a Kafka header or a log line.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::header::AUTHORIZATION;
use reqwest::Method;
use serde_json::{json, Value};
use slipstream_devkit::{eventually, workspace_bin};
use slipstream_runtime::auth::Scope;

use crate::helpers::Pipeline;

/// One operation of a document: its method, a concrete path, and the scope it declares.
#[derive(Clone)]
struct Operation {
    method: Method,
    path: String,
    scope: Option<Scope>,
}

fn operations(document: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    for (template, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("an item") {
            let scope = operation["security"][0]["bearer"][0]
                .as_str()
                .map(|s| s.parse::<Scope>().expect("a scope"));
            let path = template
                .split('/')
                .map(|part| if part.starts_with('{') { "1" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            all.push(Operation {
                method: method.to_uppercase().parse().expect("a method"),
                path,
                scope,
            });
        }
    }
    all
}

async fn status(
    client: &reqwest::Client,
    method: &Method,
    url: &str,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = client.request(method.clone(), url).json(&json!({}));
    if let Some(key) = key {
        request = request.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_of_every_service_answers_by_the_scope_its_document_declares() {
    let pipeline = Pipeline::start().await;
    let anonymous = reqwest::Client::new();
    let document = |base: String| {
        let anonymous = anonymous.clone();
        async move {
            let url = format!("{base}/openapi.json");
            anonymous
                .get(url)
                .send()
                .await
                .expect("sent")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };
    let api_document = document(pipeline.api_url.clone()).await;
    let producer_document = document(pipeline.producer_url.clone()).await;
    // A consumer serves what every service does, which each document lists: `/`, `/health`, `/metrics`.
    let service_routes: Vec<Operation> = operations(&api_document)
        .into_iter()
        .filter(|op| ["/", "/health", "/metrics"].contains(&op.path.as_str()))
        .collect();
    assert_eq!(service_routes.len(), 3);
    let mut checked = 0;
    for (name, base) in pipeline.urls() {
        let routes = match name.as_str() {
            "api" => operations(&api_document),
            "producer" => operations(&producer_document),
            _ => service_routes.clone(),
        };
        for op in routes {
            let url = format!("{base}{}", op.path);
            let what = format!("{name}: {} {}", op.method, op.path);
            let (anonymous_status, body) = status(&anonymous, &op.method, &url, None).await;
            let Some(scope) = op.scope else {
                assert!(
                    ![401, 403].contains(&anonymous_status),
                    "{what} is not open: {anonymous_status}"
                );
                continue;
            };
            assert_eq!(anonymous_status, 401, "{what} without a key: {body}");
            assert_eq!(body["type"], "unauthenticated", "{what}");
            for other in Scope::ALL
                .into_iter()
                .filter(|s| ![scope, Scope::Admin].contains(s))
            {
                let (code, body) =
                    status(&anonymous, &op.method, &url, Some(pipeline.keys.key(other))).await;
                assert_eq!(code, 403, "{what} with the {other} key: {body}");
                assert_eq!(body["scope"], scope.as_str(), "{what}");
            }
            for holder in [scope, Scope::Admin] {
                let (code, body) = status(
                    &anonymous,
                    &op.method,
                    &url,
                    Some(pipeline.keys.key(holder)),
                )
                .await;
                assert!(
                    ![401, 403].contains(&code),
                    "{what} refused the {holder} key: {body}"
                );
            }
            checked += 1;
        }
    }
    // api: 9 operations and /metrics; producer: 3 and /metrics; 3 consumers' /metrics.
    assert!(checked >= 17, "only {checked} secured routes were checked");
}

fn keys_command(pipeline: &Pipeline, args: &[&str]) -> String {
    let output = Command::new(workspace_bin("slipstream-keys"))
        .arg("--file")
        .arg(&pipeline.keys.file)
        .args(args)
        .output()
        .expect("slipstream-keys runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Waits until `/metrics` of every service answers `expected` for `key`; returns how long.
async fn every_service_answers(pipeline: &Pipeline, key: &str, expected: u16) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::new();
    for (name, base) in pipeline.urls() {
        let what = format!("{name} answers {expected} to the key");
        eventually(
            &what,
            Duration::from_secs(5).saturating_sub(started.elapsed()),
            || async {
                let (code, _) =
                    status(&client, &Method::GET, &format!("{base}/metrics"), Some(key)).await;
                code == expected
            },
        )
        .await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_key_works_and_a_revoked_key_stops_on_every_service_within_5_s() {
    let pipeline = Pipeline::start().await;
    let key = keys_command(
        &pipeline,
        &["create", "--name", "scraper", "--scopes", "metrics"],
    );
    assert!(key.starts_with("slp_"), "{key}");
    let took = every_service_answers(&pipeline, &key, 200).await;
    assert!(took < Duration::from_secs(5), "{took:?}");

    let listed = keys_command(&pipeline, &["list"]);
    let id = key.split('_').nth(1).expect("a key id");
    assert!(
        listed.contains(id) && listed.contains("scraper"),
        "{listed}"
    );
    assert!(
        !listed.contains(&key[key.len() - 20..]),
        "the list shows a secret:\n{listed}"
    );

    keys_command(&pipeline, &["revoke", id]);
    let took = every_service_answers(&pipeline, &key, 401).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_request_id_and_a_malformed_traceparent_reach_no_header_or_log() {
    let pipeline = Pipeline::start().await;
    let request_id = format!("huge{}", "x".repeat(10_000));
    let traceparent = "00-not-a-trace-context-but-long-enough-to-look-like-one-01";
    let answered = pipeline
        .produce_user_with_context(5151, &request_id, traceparent)
        .await;
    assert!(
        answered.len() <= 64 && !answered.starts_with("huge"),
        "{answered:.80}"
    );
    eventually("the user is stored", Duration::from_secs(30), || async {
        pipeline.get("/users/5151").await.is_some()
    })
    .await;
    let messages =
        slipstream_devkit::kafka::read_topic(&pipeline.bootstrap, &pipeline.topic("users"), 1);
    let headers = header_values(&messages[0]);
    assert!(
        headers
            .iter()
            .all(|(_, v)| !v.contains("xxxxxxxx") && !v.contains("not-a-trace")),
        "{headers:?}"
    );
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "request-id" && *v == answered),
        "{headers:?}"
    );
    assert!(
        headers.iter().all(|(k, _)| k != "traceparent"),
        "{headers:?}"
    );
    for (name, _) in pipeline.urls() {
        let log = pipeline.log(&name);
        assert!(
            !log.contains("xxxxxxxxxxxxxxxx"),
            "{name} logged the request id"
        );
        assert!(
            !log.contains("not-a-trace"),
            "{name} logged the traceparent"
        );
    }
}

fn header_values(message: &rdkafka::message::OwnedMessage) -> Vec<(String, String)> {
    use rdkafka::message::Headers;
    use rdkafka::Message;
    let Some(headers) = message.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .map(|h| {
            (
                h.key.to_owned(),
                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}
