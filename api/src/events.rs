//! `POST /events`, `GET /events/{id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipstream_model::contract::ProblemType;
use slipstream_model::{Event, Invalid, Kind};
use slipstream_runtime::auth::{self, Scope};
use slipstream_runtime::{JsonText, Problem};
use utoipa::IntoParams;

use crate::error::{Error, Result};
use crate::openapi;
use crate::startup::AppState;
use crate::web::{save_body, IdPath, Stored};

pub fn router() -> Router<AppState> {
    let writes = Router::new().route("/events", post(create));
    let reads = Router::new().route("/events/{id}", get(read));
    auth::scoped(Scope::Write, writes).merge(auth::scoped(Scope::Read, reads))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadOptions {
    /// Whether the event joins the recommendations at once (default) or waits for the next
    /// regeneration. `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off`.
    #[param(value_type = Option<bool>)]
    gen_recommendations: Option<String>,
}

#[utoipa::path(
    post,
    path = "/events",
    security(("bearer" = ["write"])),
    tag = "events",
    params(UploadOptions),
    request_body(content = inline(openapi::Events), content_type = "application/json", description = "One event, or a batch of up to 1,000 stored in one transaction."),
    responses(
        (status = 201, description = "Created; the stored record.", body = Event),
        (status = 200, description = "One record: the identical record was already stored; the stored record. A batch: every record is stored; for each, the status a POST of it alone would have had (201 or 200) and the stored record.", body = inline(openapi::EventsStored)),
        (status = 409, description = "`id-conflict`: a record with this id exists with different content; `ids-exhausted`: no id left to assign. In a batch, `index` names the record, and nothing of the batch is stored.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot take the write now.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    options: Result<Query<UploadOptions>, QueryRejection>,
    JsonText(body): JsonText,
) -> Result<Stored<Event>> {
    let gen_recommendations = gen_recommendations(options)?;
    save_body::<Event>(&state.writer, &body, gen_recommendations).await
}

#[utoipa::path(
    get,
    path = "/events/{id}",
    security(("bearer" = ["read"])),
    tag = "events",
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The stored event.", body = Event),
        (status = 404, description = "No event with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state))]
async fn read(State(state): State<AppState>, IdPath(id): IdPath) -> Result<Json<Event>> {
    let event = state.store.find(id).await?;
    event.map(Json).ok_or(Error::NotFound {
        kind: Kind::Events,
        id,
    })
}

/// `gen_recommendations`, true unless said otherwise, spelt as the original FastAPI system
/// accepted it (`false`, `False`, `0`, `no`, `off`, …).
fn gen_recommendations(options: Result<Query<UploadOptions>, QueryRejection>) -> Result<bool> {
    let Query(options) = options.map_err(|rejection| Error::BadRequest {
        kind: ProblemType::InvalidQuery,
        detail: rejection.body_text(),
    })?;
    match options.gen_recommendations.as_deref() {
        None => Ok(true),
        Some(value) => parse_flag(value).ok_or_else(|| {
            Invalid::at("gen_recommendations", "must be a boolean (true or false)").into()
        }),
    }
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_as_fastapi_reads_booleans() {
        for yes in ["true", "True", "1", "yes", "on"] {
            assert_eq!(parse_flag(yes), Some(true), "{yes}");
        }
        for no in ["false", "False", "0", "no", "off"] {
            assert_eq!(parse_flag(no), Some(false), "{no}");
        }
        assert_eq!(parse_flag("maybe"), None);
        assert_eq!(parse_flag(""), None);
    }
}
