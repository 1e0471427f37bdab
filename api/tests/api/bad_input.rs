//! Bad input of every shape (SPEC §7): each request gets its 4xx as problem+json naming the
//! failing fields, never a 5xx, a panic or a hang. The body-level edge cases that have their
//! own tests in `edge.rs` are not repeated here.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{coupon, event, failing_fields, problem, user, with_id, TestApp};

/// One bad request and the problem it must get.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    kind: &'static str,
    fields: Vec<&'static str>,
}

impl Case {
    fn new(name: &'static str, method: Method, path: &str) -> Self {
        Self {
            name,
            method,
            path: path.to_owned(),
            content_type: None,
            body: Vec::new(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "validation",
            fields: Vec::new(),
        }
    }

    fn get(name: &'static str, path: &str) -> Self {
        Self::new(name, Method::GET, path)
    }

    /// A POST declared as JSON, with `body` sent byte for byte.
    fn post(name: &'static str, path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            content_type: Some("application/json"),
            body: body.into(),
            ..Self::new(name, Method::POST, path)
        }
    }

    fn content_type(self, content_type: Option<&'static str>) -> Self {
        Self {
            content_type,
            ..self
        }
    }

    fn is(self, status: StatusCode, kind: &'static str) -> Self {
        Self {
            status,
            kind,
            ..self
        }
    }

    /// A 422 naming exactly these fields.
    fn fields(self, fields: &[&'static str]) -> Self {
        Self {
            fields: fields.to_vec(),
            ..self
        }
    }

    async fn check(self, app: &TestApp) {
        let mut request = app
            .client
            .request(self.method.clone(), format!("{}{}", app.address, self.path))
            .timeout(Duration::from_secs(10))
            .body(self.body);
        if let Some(content_type) = self.content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: no answer: {e}", self.name));
        let status = response.status();
        assert_eq!(status, self.status, "{}", self.name);
        let body = problem(response, self.status, self.kind).await;
        if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(failing_fields(&body), self.fields, "{}: {body}", self.name);
        }
    }
}

/// `base` with `field` set to the raw JSON text `value`, which need not be valid JSON.
fn with_raw(base: &Value, field: &str, value: &str) -> String {
    let mut object = base.clone();
    object[field] = json!("@");
    object.to_string().replacen("\"@\"", value, 1)
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_are_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let cases = [
        Case::post(
            "birth year as a string",
            "/users",
            with_raw(&user(), "birth_year", r#""1990""#),
        )
        .fields(&["birth_year"]),
        Case::post(
            "country as a number",
            "/users",
            with_raw(&user(), "country", "49"),
        )
        .fields(&["country"]),
        Case::post(
            "gender as an object",
            "/users",
            with_raw(&user(), "gender", r#"{"F": true}"#),
        )
        .fields(&["gender"]),
        Case::post(
            "participants as a string",
            "/events",
            with_raw(&event(), "participants", r#""A v B""#),
        )
        .fields(&["participants"]),
        Case::post(
            "selections as an object",
            "/coupons",
            with_raw(&coupon(1, &[1]), "selections", r#"{"event_id": 1}"#),
        )
        .fields(&["selections"]),
        Case::post(
            "odds as a boolean",
            "/coupons",
            r#"{"user_id": 1, "stake": 1, "selections": [{"event_id": 1, "odds": true}]}"#,
        )
        .fields(&["selections[0].odds"]),
        Case::post("an empty object", "/users", "{}").fields(&[
            "birth_year",
            "country",
            "currency",
            "gender",
        ]),
        Case::post(
            "nulls for required fields",
            "/coupons",
            r#"{"user_id": null, "stake": null, "selections": null}"#,
        )
        .fields(&["selections", "stake", "user_id"]),
        Case::post(
            "a NUL character in a name, which PostgreSQL cannot store",
            "/events",
            with_raw(&event(), "league", r#""Premier\u0000League""#),
        )
        .fields(&["league"]),
        Case::post(
            "an unknown field",
            "/events",
            with_raw(&event(), "venue", r#""Emirates""#),
        )
        .fields(&["venue"]),
        Case::post(
            "an unknown field in a selection",
            "/coupons",
            r#"{"user_id": 1, "stake": 1, "selections": [{"event_id": 1, "odds": 2, "boost": 1}]}"#,
        )
        .fields(&["selections[0].boost"]),
        Case::post("an array instead of a record", "/users", "[]").fields(&[""]),
        Case::post("a string instead of a record", "/events", r#""event""#).fields(&[""]),
        Case::post("null instead of a record", "/coupons", "null").fields(&[""]),
    ];
    for case in cases {
        case.check(&app).await;
    }
}

#[tokio::test]
async fn huge_negative_and_nan_like_numbers_are_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let stake = |value: &str| with_raw(&coupon(1, &[1]), "stake", value);
    let cases = [
        Case::post(
            "an id past i64",
            "/users",
            with_raw(&user(), "id", "9223372036854775808"),
        )
        .fields(&["id"]),
        Case::post(
            "an id past u64",
            "/users",
            with_raw(&user(), "id", "18446744073709551616"),
        )
        .fields(&["id"]),
        Case::post("a negative id", "/events", with_raw(&event(), "id", "-1")).fields(&["id"]),
        Case::post(
            "a negative user id",
            "/coupons",
            with_raw(&coupon(1, &[1]), "user_id", "-5"),
        )
        .fields(&["user_id"]),
        Case::post(
            "a birth year of 1e23",
            "/users",
            with_raw(&user(), "birth_year", "1e23"),
        )
        .fields(&["birth_year"]),
        Case::post(
            "a negative birth year",
            "/users",
            with_raw(&user(), "birth_year", "-1990"),
        )
        .fields(&["birth_year"]),
        Case::post("a negative stake", "/coupons", stake("-10")).fields(&["stake"]),
        Case::post("a stake of 1e300", "/coupons", stake("1e300")).fields(&["stake"]),
        Case::post(
            "a stake past Decimal's range",
            "/coupons",
            stake(r#""79228162514264337593543950335""#),
        )
        .fields(&["stake"]),
        Case::post(
            "odds of 1e27 as text",
            "/coupons",
            r#"{"user_id": 1, "stake": 1, "selections": [{"event_id": 1, "odds": "1e27"}]}"#,
        )
        .fields(&["selections[0].odds"]),
        Case::post("a stake of \"NaN\"", "/coupons", stake(r#""NaN""#)).fields(&["stake"]),
        Case::post(
            "a stake of \"Infinity\"",
            "/coupons",
            stake(r#""Infinity""#),
        )
        .fields(&["stake"]),
        Case::post(
            "a stake of \"-Infinity\"",
            "/coupons",
            stake(r#""-Infinity""#),
        )
        .fields(&["stake"]),
        Case::post("a bare NaN", "/coupons", stake("NaN"))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("a bare Infinity", "/coupons", stake("Infinity"))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("a stake of 1e400", "/coupons", stake("1e400"))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post(
            "a moment before year 0 in UTC",
            "/users",
            with_raw(
                &user(),
                "registration_date",
                r#""0000-01-01T00:00:00+23:59""#,
            ),
        )
        .fields(&["registration_date"]),
        Case::post(
            "a moment after year 9999 in UTC",
            "/events",
            with_raw(&event(), "end_timestamp", r#""9999-12-31T23:59:59-00:01""#),
        )
        .fields(&["end_timestamp"]),
    ];
    for case in cases {
        case.check(&app).await;
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_are_400_413_or_415() {
    let app = TestApp::spawn().await;
    let mut invalid_utf8 = br#"{"birth_year": 1990, "country": ""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#"", "currency": "EUR", "gender": "F"}"#);
    let user = user().to_string();
    let cases = [
        Case::post("100k nested arrays", "/users", "[".repeat(100_000))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("100k nested objects", "/users", r#"{"a":"#.repeat(100_000))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("a 10 MB body", "/events", vec![b' '; 10 * 1024 * 1024])
            .is(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
        Case::post("invalid UTF-8", "/users", invalid_utf8)
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post(
            "a lone surrogate escape",
            "/users",
            with_raw(&crate::helpers::user(), "country", r#""\ud800""#),
        )
        .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("a byte order mark", "/users", format!("\u{feff}{user}"))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("an empty body", "/coupons", "").is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("trailing garbage", "/users", format!("{user} {{}}"))
            .is(StatusCode::BAD_REQUEST, "malformed-json"),
        Case::post("no content type", "/users", user.clone())
            .content_type(None)
            .is(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        Case::post("a form", "/coupons", "user_id=1")
            .content_type(Some("application/x-www-form-urlencoded"))
            .is(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        Case::post("XML", "/events", "<event/>")
            .content_type(Some("application/xml"))
            .is(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        Case::post("a JSON look-alike type", "/users", user.clone())
            .content_type(Some("application/jsonp"))
            .is(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
    ];
    for case in cases {
        case.check(&app).await;
    }
}

#[tokio::test]
async fn unknown_routes_methods_and_bad_path_or_query_parameters_are_4xx() {
    let app = TestApp::spawn().await;
    let not_found =
        |name, method, path| Case::new(name, method, path).is(StatusCode::NOT_FOUND, "not-found");
    let not_allowed = |name, method, path| {
        Case::new(name, method, path).is(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed")
    };
    let bad_path = |name, path| Case::get(name, path).is(StatusCode::BAD_REQUEST, "invalid-path");
    let limit = |name, query: &str| {
        Case::get(name, &format!("/recommendation/1?{query}")).fields(&["limit"])
    };
    let cases = [
        not_found("a path below a record", Method::GET, "/users/1/coupons"),
        not_found("a trailing slash", Method::GET, "/users/"),
        not_found("an unknown route", Method::POST, "/bets"),
        not_allowed("PUT on a collection", Method::PUT, "/users"),
        not_allowed("PATCH on a record", Method::PATCH, "/events/1"),
        not_allowed("GET on generate", Method::GET, "/recommendation/generate"),
        not_allowed("DELETE on the root", Method::DELETE, "/"),
        bad_path("a word for an id", "/recommendation/abc"),
        bad_path("a percent-encoded invalid byte", "/users/%ff"),
        bad_path("a NUL after an id", "/events/1%00"),
        bad_path("an id past i64", "/coupons/user/9223372036854775808"),
        bad_path("an exponent", "/coupons/1e3"),
        limit("a word for a limit", "limit=abc"),
        limit("a zero limit", "limit=0"),
        limit("a limit over 50", "limit=51"),
        limit("a negative limit", "limit=-1"),
        limit("a limit past u64", "limit=99999999999999999999999"),
        limit("a limit of NaN", "limit=NaN"),
        Case::get("a limit given twice", "/recommendation/1?limit=1&limit=2")
            .is(StatusCode::BAD_REQUEST, "invalid-query"),
        Case::post(
            "gen_recommendations not a boolean",
            "/events?gen_recommendations=maybe",
            event().to_string(),
        )
        .fields(&["gen_recommendations"]),
        Case::post(
            "gen_recommendations given twice",
            "/events?gen_recommendations=true&gen_recommendations=false",
            event().to_string(),
        )
        .is(StatusCode::BAD_REQUEST, "invalid-query"),
    ];
    for case in cases {
        case.check(&app).await;
    }
}

#[tokio::test]
async fn a_client_taking_the_last_api_id_leaves_every_other_id_to_assign() {
    let app = TestApp::spawn().await;
    let last_api_id = slipstream_model::GENERATED_ID_FLOOR - 1;
    app.create("/users", &with_id(user(), last_api_id)).await;
    let first = app.create("/users", &user()).await;
    let second = app.create("/users", &user()).await;
    assert_eq!((first, second), (1, 2));
    app.create("/users", &with_id(user(), 5)).await;
}
