//! `/`, `/health` and `/ready`: whether the api runs, and whether it can serve.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use slipstream_runtime::http::about_routes;

use slipstream_runtime::Problem;

use crate::error::{Error, Result};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    about_routes(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).route("/ready", get(ready))
}

/// Ready when the database answers a query and the recommendations are built.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    responses(
        (status = 200, description = "The database answers and the recommendations are built."),
        (status = 503, description = "Not ready yet.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Value>> {
    state
        .store
        .ping()
        .await
        // Any failure of the database's is a reason not to send traffic here yet.
        .map_err(|e| match e {
            Error::Database(e) => Error::Unavailable(e),
            other => other,
        })?;
    if !state.recommender.is_ready() {
        return Err(Error::Warming);
    }
    Ok(Json(json!({"status": "ready"})))
}
