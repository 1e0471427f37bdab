//! `POST /users`, `GET /users/{id}`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use slipstream_model::{Kind, Record, User};
use slipstream_runtime::JsonBody;

use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::Saved;
use crate::web::IdPath;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(create))
        .route("/users/{id}", get(read))
}

#[tracing::instrument(skip_all)]
async fn create(State(state): State<AppState>, JsonBody(body): JsonBody) -> Result<Saved<User>> {
    let now = Utc::now();
    let user: User = Record::parse(&body, now)?;
    let recommender = state.recommender.clone();
    state
        .store
        .save(user, now, move |user| {
            recommender.user_stored(user.id.unwrap_or_default())
        })
        .await
}

#[tracing::instrument(skip(state))]
async fn read(State(state): State<AppState>, IdPath(id): IdPath) -> Result<Json<User>> {
    let user = state.store.find(id).await?;
    user.map(Json).ok_or(Error::NotFound {
        kind: Kind::Users,
        id,
    })
}
