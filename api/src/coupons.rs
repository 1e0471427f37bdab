//! `POST /coupons`, `GET /coupons/{id}`, `GET /coupons/user/{user_id}`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use slipstream_model::{Coupon, Kind, Record};
use slipstream_runtime::JsonBody;

use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::Saved;
use crate::web::IdPath;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/coupons", post(create))
        .route("/coupons/{id}", get(read))
        .route("/coupons/user/{user_id}", get(of_user))
}

/// The user and every event must be stored already: otherwise 409 `missing-reference`.
#[tracing::instrument(skip_all)]
async fn create(State(state): State<AppState>, JsonBody(body): JsonBody) -> Result<Saved<Coupon>> {
    let now = Utc::now();
    let coupon: Coupon = Record::parse(&body, now)?;
    let recommender = state.recommender.clone();
    state
        .store
        .save(coupon, now, move |coupon| recommender.coupon_stored(coupon))
        .await
}

#[tracing::instrument(skip(state))]
async fn read(State(state): State<AppState>, IdPath(id): IdPath) -> Result<Json<Coupon>> {
    let coupon = state.store.find(id).await?;
    coupon.map(Json).ok_or(Error::NotFound {
        kind: Kind::Coupons,
        id,
    })
}

#[tracing::instrument(skip(state))]
async fn of_user(
    State(state): State<AppState>,
    IdPath(user_id): IdPath,
) -> Result<Json<Vec<Coupon>>> {
    let coupons = state.store.coupons_of_user(user_id).await?;
    coupons.map(Json).ok_or(Error::NotFound {
        kind: Kind::Users,
        id: user_id,
    })
}
