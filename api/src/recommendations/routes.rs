use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Answer {
    #[schema(value_type = i64)]
    user_id: Id,
    /// `favourite_sport`, or `popular` for a user without coupons.
    #[schema(value_type = String, examples("favourite_sport"))]
    strategy: &'static str,
    favourite_sport: Option<String>,
    generated_at: DateTime<Utc>,
    /// Each event's JSON with `reason` and `popularity` added.
    #[schema(value_type = Vec<RecommendedEvent>)]
    events: Vec<Box<RawValue>>,
}

/// A recommended event: the event as stored, why it is recommended, and how popular it is.
// Describes for the OpenAPI document the JSON that `answer` writes by hand; never built.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
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
) -> Result<Json<Answer>> {
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
    Ok(Json(answer(user_id, recommendation, now)?))
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
        kind: "invalid-query",
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

/// The answer, with each event's stored JSON extended rather than serialized anew: the
/// serialization is most of the cost of a request otherwise.
fn answer(user_id: Id, recommendation: Recommendation, now: DateTime<Utc>) -> Result<Answer> {
    let events = recommendation
        .picks
        .iter()
        .map(|pick| {
            let reason = match pick.reason {
                Reason::FavouriteSport => "favourite_sport",
                Reason::Popular => "popular",
            };
            let fields = pick.event.strip_suffix('}').unwrap_or("{");
            let json = format!(
                r#"{fields},"reason":"{reason}","popularity":{}}}"#,
                pick.popularity
            );
            RawValue::from_string(json).map_err(|e| {
                anyhow::Error::from(e)
                    .context("Failed to extend a stored event")
                    .into()
            })
        })
        .collect::<Result<_>>()?;
    let strategy = match recommendation.strategy {
        Strategy::FavouriteSport => "favourite_sport",
        Strategy::Popular => "popular",
    };
    metrics::served(strategy);
    Ok(Answer {
        user_id,
        strategy,
        favourite_sport: recommendation.favourite_sport,
        generated_at: now,
        events,
    })
}
