use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{coupon, event, failing_fields, problem, user, with_id, TestApp};

/// An app holding one user and two events, for coupons to reference.
async fn app_with_user_and_events() -> (TestApp, i64, [i64; 2]) {
    let app = TestApp::spawn().await;
    let user = app.create("/users", &user()).await;
    let events = [
        app.create("/events", &event()).await,
        app.create("/events", &event()).await,
    ];
    (app, user, events)
}

#[tokio::test]
async fn a_coupon_is_stored_exactly_as_sent() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    let body = json!({
        "user_id": user,
        "stake": 0.29,
        "selections": [{"event_id": b, "odds": 1.01}, {"event_id": a, "odds": 10000}],
        "timestamp": "2024-05-01 18:30:00.123456",
    });
    let id = app.create("/coupons", &body).await;
    let stored: Value = app
        .get(&format!("/coupons/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    let expected = json!({
        "id": id,
        "user_id": user,
        "stake": 0.29,
        "selections": [{"event_id": b, "odds": 1.01}, {"event_id": a, "odds": 10000}],
        "timestamp": "2024-05-01T18:30:00.123456Z",
    });
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_coupon_with_an_unknown_event_is_a_missing_reference() {
    let (app, user, [a, _]) = app_with_user_and_events().await;
    let response = app.post("/coupons", &coupon(user, &[a, 404])).await;
    let body = problem(response, StatusCode::CONFLICT, "missing-reference").await;
    assert_eq!(body["missing"], json!({"users": [], "events": [404]}));
}

#[tokio::test]
async fn a_missing_reference_lists_every_missing_id_sorted() {
    let (app, _, [a, _]) = app_with_user_and_events().await;
    let response = app.post("/coupons", &coupon(77, &[900, a, 500, 700])).await;
    let body = problem(response, StatusCode::CONFLICT, "missing-reference").await;
    assert_eq!(
        body["missing"],
        json!({"users": [77], "events": [500, 700, 900]})
    );
    problem(
        app.get("/coupons/user/77").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn a_coupon_refused_for_a_missing_reference_is_accepted_once_it_exists() {
    let (app, user, [a, _]) = app_with_user_and_events().await;
    let body = with_id(coupon(user, &[a, 31]), 12);
    let refused = app.post("/coupons", &body).await;
    problem(refused, StatusCode::CONFLICT, "missing-reference").await;
    app.create("/events", &with_id(event(), 31)).await;
    assert_eq!(app.create("/coupons", &body).await, 12);
}

#[tokio::test]
async fn an_identical_coupon_replay_without_timestamp_is_200_with_the_stored_record() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    let body = with_id(coupon(user, &[a, b]), 20);
    let created: Value = app
        .post("/coupons", &body)
        .await
        .json()
        .await
        .expect("JSON");
    let replay = app.post("/coupons", &body).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.expect("JSON"), created);
}

#[tokio::test]
async fn a_coupon_with_reordered_selections_under_a_stored_id_is_an_id_conflict() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    app.create("/coupons", &with_id(coupon(user, &[a, b]), 20))
        .await;
    let response = app
        .post("/coupons", &with_id(coupon(user, &[b, a]), 20))
        .await;
    problem(response, StatusCode::CONFLICT, "id-conflict").await;
}

#[tokio::test]
async fn a_users_coupons_are_ordered_by_timestamp_then_id() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    let at = |id: i64, timestamp: &str| {
        let mut body = with_id(coupon(user, &[a]), id);
        body["timestamp"] = json!(timestamp);
        body
    };
    app.create("/coupons", &at(3, "2024-05-02T00:00:00Z")).await;
    app.create("/coupons", &at(2, "2024-05-01T00:00:00Z")).await;
    app.create("/coupons", &at(1, "2024-05-02T00:00:00Z")).await;
    let other_user = app.create("/users", &crate::helpers::user()).await;
    app.create("/coupons", &coupon(other_user, &[b])).await;
    let coupons: Vec<Value> = app
        .get(&format!("/coupons/user/{user}"))
        .await
        .json()
        .await
        .expect("JSON");
    let ids: Vec<i64> = coupons.iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(ids, [2, 1, 3]);
    assert_eq!(
        coupons[0]["selections"],
        json!([{"event_id": a, "odds": 1.85}])
    );
}

#[tokio::test]
async fn a_user_without_coupons_has_an_empty_list() {
    let (app, user, _) = app_with_user_and_events().await;
    let response = app.get(&format!("/coupons/user/{user}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!([]));
}

#[tokio::test]
async fn coupons_of_an_unknown_user_are_404() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/coupons/user/5").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_coupon_is_404() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/coupons/5").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_coupon_is_422_naming_every_failing_field() {
    let app = TestApp::spawn().await;
    let body = json!({
        "user_id": 0,
        "stake": 10.001,
        "selections": [{"event_id": 1, "odds": 1.0}, {"event_id": 1, "odds": 2}],
        "timestamp": "yesterday",
    });
    let problem = problem(
        app.post("/coupons", &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(
        failing_fields(&problem),
        ["selections[0].odds", "stake", "timestamp", "user_id"]
    );
}

/// The `rel="next"` target of a response's `Link` header.
fn next_page(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    let (target, _) = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?;
    Some(target.to_owned())
}

fn ids(page: &Value) -> Vec<i64> {
    let all = page.as_array().expect("an array").iter();
    all.map(|c| c["id"].as_i64().expect("an id")).collect()
}

#[tokio::test]
async fn a_users_coupons_come_in_pages_linked_by_a_cursor() {
    let (app, user, [a, _]) = app_with_user_and_events().await;
    let coupons: Vec<Value> = (1..=105)
        .map(|i| {
            let mut body = with_id(coupon(user, &[a]), i);
            // Two coupons per second, so equal timestamps are ordered by id.
            body["timestamp"] = json!(format!("2026-01-01T00:{:02}:{:02}Z", i / 120, (i / 2) % 60));
            body
        })
        .collect();
    assert_eq!(
        app.post("/coupons", &json!(coupons)).await.status(),
        StatusCode::OK
    );

    // 100 by default, and a link to the rest.
    let first = app.get(&format!("/coupons/user/{user}")).await;
    let rest = next_page(&first).expect("a next page");
    assert_eq!(
        ids(&first.json().await.expect("JSON")),
        (1..=100).collect::<Vec<_>>()
    );
    let last = app.get(&rest).await;
    assert_eq!(next_page(&last), None, "a link after the last page");
    assert_eq!(
        ids(&last.json().await.expect("JSON")),
        (101..=105).collect::<Vec<_>>()
    );

    // Small pages, followed to the end, give every coupon once, in order.
    let mut seen = Vec::new();
    let mut path = Some(format!("/coupons/user/{user}?limit=7"));
    while let Some(current) = path.take() {
        let page = app.get(&current).await;
        assert_eq!(page.status(), StatusCode::OK);
        path = next_page(&page);
        let page_ids = ids(&page.json().await.expect("JSON"));
        assert!(page_ids.len() <= 7);
        seen.extend(page_ids);
    }
    assert_eq!(seen, (1..=105).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_page_limit_out_of_range_or_a_forged_cursor_is_a_422_naming_it() {
    let (app, user, _) = app_with_user_and_events().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=1_0", "cursor"),
    ] {
        let response = app.get(&format!("/coupons/user/{user}?{query}")).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(failing_fields(&body), [field], "{query}");
    }
    let both = app
        .get(&format!("/coupons/user/{user}?limit=0&cursor=x"))
        .await;
    let body = problem(both, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&body), ["cursor", "limit"]);
    let most = app.get(&format!("/coupons/user/{user}?limit=1000")).await;
    assert_eq!(most.status(), StatusCode::OK);
}
