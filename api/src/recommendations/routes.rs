use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use slipstream_model::{Id, Invalid, Kind};

use super::index::{Reason, Recommendation, Strategy};
use super::{rebuild, NotReady};
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::web::IdPath;

const DEFAULT_LIMIT: usize = 3;
const MAX_LIMIT: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/recommendation/generate", post(generate))
        .route("/recommendation/{user_id}", get(recommend))
}

#[derive(Debug, Deserialize)]
struct Params {
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
struct Answer {
    user_id: Id,
    strategy: &'static str,
    favourite_sport: Option<String>,
    generated_at: DateTime<Utc>,
    /// Each event's JSON with `reason` and `popularity` added.
    events: Vec<Box<RawValue>>,
}

#[derive(Debug, Serialize)]
struct Generated {
    users: usize,
    events: usize,
    duration_ms: u64,
}

async fn recommend(
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
#[tracing::instrument(skip_all)]
async fn generate(State(state): State<AppState>) -> Result<Json<Generated>> {
    let (counts, took) = rebuild(&state.store, &state.recommender).await?;
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
    Ok(Answer {
        user_id,
        strategy: match recommendation.strategy {
            Strategy::FavouriteSport => "favourite_sport",
            Strategy::Popular => "popular",
        },
        favourite_sport: recommendation.favourite_sport,
        generated_at: now,
        events,
    })
}
