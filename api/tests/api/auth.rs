//! SPEC §9 on the api: keys and scopes, rate limits, one regeneration at a time, and a
//! client's request context and methods kept out of logs and metric labels.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use slipstream_runtime::auth::{file, Scope};

use crate::helpers::{client_with, coupon, event, problem, user, with_id, TestApp};

/// The 401 every rejected credential gets, alike whatever was wrong with it.
async fn assert_unauthenticated(response: reqwest::Response) -> Value {
    let challenge = response.headers().get(WWW_AUTHENTICATE).cloned();
    let challenge = challenge
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        challenge.starts_with("Bearer"),
        "WWW-Authenticate: {challenge}"
    );
    let mut body = problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    body.as_object_mut().map(|b| b.remove("instance"));
    body
}

#[tokio::test]
async fn each_route_takes_the_keys_of_its_scope_and_admin_only() {
    let app = TestApp::spawn().await;
    let owner = app.create("/users", &user()).await;
    let routes: [(Method, String, Scope); 7] = [
        (Method::POST, "/users".into(), Scope::Write),
        (Method::GET, format!("/users/{owner}"), Scope::Read),
        (Method::GET, format!("/coupons/user/{owner}"), Scope::Read),
        (
            Method::GET,
            format!("/recommendation/{owner}"),
            Scope::Recommend,
        ),
        (
            Method::POST,
            "/recommendation/generate".into(),
            Scope::Admin,
        ),
        (Method::GET, "/metrics".into(), Scope::Metrics),
        (Method::POST, "/events".into(), Scope::Write),
    ];
    for (method, path, needed) in routes {
        let url = format!("{}{path}", app.address);
        for scope in Scope::ALL {
            let response = app
                .client
                .request(method.clone(), &url)
                .header(AUTHORIZATION, app.keys.bearer(scope))
                .json(&json!({}))
                .send()
                .await
                .expect("sent");
            if scope == needed || scope == Scope::Admin {
                assert!(
                    ![401, 403].contains(&response.status().as_u16()),
                    "{method} {path} refused the {scope} key"
                );
            } else {
                let body = problem(response, StatusCode::FORBIDDEN, "forbidden").await;
                assert_eq!(body["scope"], needed.as_str(), "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn open_routes_need_no_key_and_every_other_refuses_a_request_without_one() {
    let app = TestApp::spawn().await;
    let anonymous = client_with(None);
    for path in ["/", "/health", "/ready", "/docs", "/openapi.json"] {
        let response = anonymous
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in [
        "/users/1",
        "/metrics",
        "/recommendation/1",
        "/coupons/user/1",
    ] {
        let response = anonymous
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("sent");
        assert_unauthenticated(response).await;
    }
    let unknown = anonymous
        .get(format!("{}/no/such/route", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_secret_an_unknown_key_and_a_revoked_key_are_answered_alike() {
    let app = TestApp::spawn().await;
    let read = app.keys.key(Scope::Read).to_owned();
    let wrong_secret = format!(
        "{}{}",
        &read[..read.len() - 1],
        if read.ends_with('0') { '1' } else { '0' }
    );
    let unknown = format!("slp_0123456789abcdef_{}", "ab".repeat(32));
    let revoked = file::create(&app.keys.file, "to-revoke", &[Scope::Read], 100).expect("key");
    let id = revoked.split('_').nth(1).expect("an id").to_owned();
    file::revoke(&app.keys.file, &id).expect("revoked");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut answers = Vec::new();
    for key in [&wrong_secret, &unknown, &revoked] {
        let response = app
            .client
            .get(format!("{}/users/1", app.address))
            .header(AUTHORIZATION, format!("Bearer {key}"))
            .send()
            .await
            .expect("sent");
        answers.push(assert_unauthenticated(response).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
}

#[tokio::test]
async fn malformed_authorization_headers_are_401_never_5xx() {
    let app = TestApp::spawn().await;
    let admin = app.keys.key(Scope::Admin).to_owned();
    let long = format!("Bearer {}", "a".repeat(10_000));
    let cases: Vec<(&str, Vec<&[u8]>)> = vec![
        ("empty", vec![b""]),
        ("Bearer alone", vec![b"Bearer"]),
        ("Bearer and a space", vec![b"Bearer "]),
        ("10 kB token", vec![long.as_bytes()]),
        ("non-ASCII", vec!["Bearer slp_\u{e9}\u{e9}".as_bytes()]),
        ("Basic", vec![b"Basic dXNlcjpwYXNz"]),
        ("the key without a scheme", vec![admin.as_bytes()]),
    ];
    let two = format!("Bearer {admin}");
    let mut all = cases;
    all.push(("two headers", vec![two.as_bytes(), two.as_bytes()]));
    let anonymous = client_with(None);
    for (name, values) in all {
        let mut request = anonymous.get(format!("{}/users/1", app.address));
        for value in values {
            request = request.header(
                AUTHORIZATION,
                reqwest::header::HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_go_on() {
    let app = TestApp::spawn().await;
    let slow = file::create(&app.keys.file, "slow", &[Scope::Read], 5).expect("key");
    let slow_client = client_with(Some(&format!("Bearer {slow}")));
    let url = format!("{}/users/1", app.address);
    // The key file is reloaded within a second of the change.
    let deadline = Instant::now() + Duration::from_secs(5);
    while slow_client.get(&url).send().await.expect("sent").status() == StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "the new key never worked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut limited = None;
    for _ in 0..20 {
        let response = slow_client.get(&url).send().await.expect("sent");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a key allowed 5 requests a second was never limited");
    let retry_after: u64 = limited.headers()[RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    let other = app
        .client
        .get(&url)
        .header(AUTHORIZATION, app.keys.bearer(Scope::Read))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        other.status(),
        StatusCode::NOT_FOUND,
        "another key was limited too"
    );
}

#[tokio::test]
async fn regenerations_run_one_at_a_time() {
    let app = TestApp::spawn().await;
    let users: Vec<Value> = (1..=1_000).map(|id| with_id(user(), id)).collect();
    app.post("/users", &json!(users)).await;
    let events: Vec<Value> = (1..=200).map(|id| with_id(event(), id)).collect();
    app.post("/events", &json!(events)).await;
    for chunk in 0..3 {
        let coupons: Vec<Value> = (1..=1_000)
            .map(|i| {
                with_id(
                    coupon(i, &[i % 200 + 1, (i + 7) % 200 + 1]),
                    chunk * 1_000 + i,
                )
            })
            .collect();
        let stored = app.post("/coupons", &json!(coupons)).await;
        assert_eq!(stored.status(), StatusCode::OK);
    }
    let empty = json!({});
    let calls = (0..6).map(|_| app.post("/recommendation/generate", &empty));
    let answers = futures::future::join_all(calls).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&409), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    for response in answers {
        if response.status() == StatusCode::CONFLICT {
            problem(response, StatusCode::CONFLICT, "generate-running").await;
        }
    }
}

#[tokio::test]
async fn invented_methods_add_no_metric_series() {
    let app = TestApp::spawn().await;
    for i in 0..50 {
        let method = Method::from_bytes(format!("M{i}X").as_bytes()).expect("a method");
        app.client
            .request(method, format!("{}/users", app.address))
            .send()
            .await
            .expect("sent");
    }
    let text = app.get("/metrics").await.text().await.expect("text");
    assert!(
        !text.contains("method=\"M"),
        "an invented method became a label"
    );
    assert!(text.contains("method=\"_OTHER\""), "{text}");
}

#[tokio::test]
async fn a_request_id_kept_only_when_well_formed() {
    let app = TestApp::spawn().await;
    for (sent, kept) in [
        ("client-id.1:2_3", true),
        (&*"x".repeat(10_000), false),
        ("has space", false),
        ("", false),
    ] {
        let response = app
            .client
            .get(format!("{}/health", app.address))
            .header("x-request-id", sent)
            .send()
            .await
            .expect("sent");
        let answered = response.headers()["x-request-id"].to_str().expect("text");
        assert_eq!(answered == sent, kept, "{sent:.20}");
        assert!((1..=64).contains(&answered.len()));
    }
}
