use std::io::Write as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipstream_model::contract::ProblemType;
use slipstream_model::{Event, Id, Invalid, Kind};
use slipstream_runtime::auth::{self, Scope};
use slipstream_runtime::Problem;
use utoipa::{IntoParams, ToSchema};

use super::index::{Reason, Recommendation, Strategy};
use super::NotReady;
use crate::error::{Error, Result};
use crate::metrics::{self, Trigger};
use crate::startup::AppState;
use crate::web::IdPath;

const DEFAULT_LIMIT: usize = 3;
const MAX_LIMIT: usize = 50;

pub fn router() -> Router<AppState> {
    let generate = Router::new().route("/recommendation/generate", post(generate));
    let recommend = Router::new().route("/recommendation/{user_id}", get(recommend));
    auth::scoped(Scope::Admin, generate).merge(auth::scoped(Scope::Recommend, recommend))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Params {
    /// How many events, 1 to 50; 3 when absent.
    #[param(value_type = Option<u8>, minimum = 1, maximum = 50)]
    limit: Option<String>,
}

// The answer as the OpenAPI document describes it; `answer` writes it by hand, and a test
// holds the two to the same JSON.
#[derive(Debug, Serialize, ToSchema)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Answer {
    #[schema(value_type = i64)]
    user_id: Id,
    /// `favourite_sport`, or `popular` for a user without coupons.
    #[schema(value_type = String, examples("favourite_sport"))]
    strategy: &'static str,
    favourite_sport: Option<String>,
    generated_at: DateTime<Utc>,
    /// Each event's JSON with `reason` and `popularity` added.
    events: Vec<RecommendedEvent>,
}

/// A recommended event: the event as stored, why it is recommended, and how popular it is.
#[derive(Debug, Serialize, ToSchema)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct RecommendedEvent {
    #[serde(flatten)]
    event: Event,
    /// `favourite_sport` or `popular`.
    #[schema(value_type = String, examples("popular"))]
    reason: &'static str,
    /// Coupons with a selection on the event.
    popularity: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Generated {
    users: usize,
    events: usize,
    duration_ms: u64,
}

#[utoipa::path(
    get,
    path = "/recommendation/{user_id}",
    security(("bearer" = ["recommend"])),
    tag = "recommendations",
    params(("user_id" = i64, Path, minimum = 1), Params),
    responses(
        (status = 200, description = "The user's recommended events, best first.", body = Answer),
        (status = 404, description = "No user with this id.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The recommendations are still being built after a start.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
pub(crate) async fn recommend(
    State(state): State<AppState>,
    IdPath(user_id): IdPath,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response> {
    let limit = limit(params)?;
    let now = Utc::now();
    let recommendation = state
        .recommender
        .recommend(user_id, limit, now)
        .map_err(|NotReady| Error::Warming)?
        .ok_or(Error::NotFound {
            kind: Kind::Users,
            id: user_id,
        })?;
    answer(user_id, &recommendation, now)
}

/// Rebuilds every user's recommendations from the stored data.
#[utoipa::path(
    post,
    path = "/recommendation/generate",
    security(("bearer" = ["admin"])),
    tag = "recommendations",
    responses(
        (status = 200, description = "Rebuilt; what it covered and how long it took.", body = Generated),
        (status = 409, description = "`generate-running`: a regeneration is already running; they run one at a time.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot be read now.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn generate(State(state): State<AppState>) -> Result<Json<Generated>> {
    let Ok(_running) = state.generating.try_lock() else {
        return Err(Error::GenerateRunning);
    };
    let (counts, took) = state.writer.rebuild(Trigger::Manual).await?;
    Ok(Json(Generated {
        users: counts.users,
        events: counts.events,
        duration_ms: took.as_millis() as u64,
    }))
}

/// `limit`, 1 to 50, 3 when absent.
fn limit(params: Result<Query<Params>, QueryRejection>) -> Result<usize> {
    let Query(params) = params.map_err(|rejection| Error::BadRequest {
        kind: ProblemType::InvalidQuery,
        detail: rejection.body_text(),
    })?;
    let Some(raw) = params.limit else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            Invalid::at("limit", format!("must be an integer from 1 to {MAX_LIMIT}")).into()
        })
}

/// The answer as JSON, written into one buffer: each event's stored JSON is extended, not
/// parsed or serialized anew, which on a cached read is most of the handler's cost. Its
/// shape is [`Answer`]'s, which a test holds it to.
fn answer(user_id: Id, recommendation: &Recommendation, now: DateTime<Utc>) -> Result<Response> {
    let strategy = strategy_name(recommendation.strategy);
    let head = Head {
        user_id,
        strategy,
        favourite_sport: recommendation.favourite_sport.as_deref(),
        generated_at: now,
    };
    let picks = &recommendation.picks;
    let mut body =
        Vec::with_capacity(160 + picks.iter().map(|p| p.event.len() + 48).sum::<usize>());
    serde_json::to_writer(&mut body, &head).map_err(anyhow::Error::from)?;
    body.pop(); // the head's closing brace: the events follow
    body.extend_from_slice(br#","events":["#);
    for (n, pick) in picks.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let fields = pick.event.strip_suffix('}').unwrap_or("{");
        body.extend_from_slice(fields.as_bytes());
        let reason = reason_name(pick.reason);
        let _ = write!(
            body,
            r#","reason":"{reason}","popularity":{}}}"#,
            pick.popularity
        );
    }
    body.extend_from_slice(b"]}");
    metrics::served(strategy);
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// [`Answer`] but its events, serialized as the head of the answer.
#[derive(Serialize)]
struct Head<'a> {
    user_id: Id,
    strategy: &'static str,
    favourite_sport: Option<&'a str>,
    generated_at: DateTime<Utc>,
}

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::FavouriteSport => "favourite_sport",
        Strategy::Popular => "popular",
    }
}

fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::FavouriteSport => "favourite_sport",
        Reason::Popular => "popular",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::to_bytes;
    use serde_json::{json, Value};

    use super::*;
    use crate::recommendations::index::Pick;

    fn event(id: Id, sport: &str) -> Event {
        Event::parse(&json!({
            "id": id, "begin_timestamp": "2030-01-01T18:00:00Z", "end_timestamp": "2030-01-01T20:00:00Z",
            "country": "GR", "league": "Super \"League\"", "sport": sport,
            "participants": ["Olympiacos", "Panathinaikos \u{e9}"],
        }))
        .expect("a valid event")
    }

    async fn written(recommendation: &Recommendation, now: DateTime<Utc>) -> Value {
        let response = answer(7, recommendation, now).expect("written");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        serde_json::from_slice(&body).expect("the written answer is JSON")
    }

    #[tokio::test]
    async fn the_answer_written_by_hand_is_what_serde_writes_for_answer() {
        let now = "2029-12-31T10:00:00.123456Z".parse().expect("a time");
        let events = [
            (event(1, "Football"), Reason::FavouriteSport, 12),
            (event(2, "tennis"), Reason::Popular, 3),
        ];
        for (strategy, favourite, picks) in [
            (
                Strategy::FavouriteSport,
                Some("football \"5\"".to_owned()),
                &events[..],
            ),
            (Strategy::Popular, None, &events[1..]),
            (Strategy::Popular, None, &[][..]),
        ] {
            let recommendation = Recommendation {
                strategy,
                favourite_sport: favourite.clone(),
                picks: picks
                    .iter()
                    .map(|(event, reason, popularity)| Pick {
                        id: event.id.expect("an id"),
                        event: Arc::from(serde_json::to_string(event).expect("JSON")),
                        reason: *reason,
                        popularity: *popularity,
                    })
                    .collect(),
            };
            let typed = Answer {
                user_id: 7,
                strategy: strategy_name(strategy),
                favourite_sport: favourite,
                generated_at: now,
                events: picks
                    .iter()
                    .map(|(event, reason, popularity)| RecommendedEvent {
                        event: event.clone(),
                        reason: reason_name(*reason),
                        popularity: u64::from(*popularity),
                    })
                    .collect(),
            };
            let expected = serde_json::to_value(&typed).expect("JSON");
            assert_eq!(written(&recommendation, now).await, expected);
        }
    }
}
