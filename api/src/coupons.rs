//! `POST /coupons`, `GET /coupons/{id}`, `GET /coupons/user/{user_id}`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use slipstream_model::{Coupon, Kind, Record};
use slipstream_runtime::{JsonBody, Problem};

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
#[utoipa::path(
    post,
    path = "/coupons",
    tag = "coupons",
    request_body(content = Coupon, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the stored record.", body = Coupon),
        (status = 200, description = "The identical record was already stored; the stored record.", body = Coupon),
        (status = 409, description = "`id-conflict`: a record with this id exists with different content; `missing-reference`: the user or events are not stored (`missing` lists their ids); `ids-exhausted`: no id left to assign.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot take the write now.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
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

#[utoipa::path(
    get,
    path = "/coupons/{id}",
    tag = "coupons",
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The stored coupon.", body = Coupon),
        (status = 404, description = "No coupon with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state))]
async fn read(State(state): State<AppState>, IdPath(id): IdPath) -> Result<Json<Coupon>> {
    let coupon = state.store.find(id).await?;
    coupon.map(Json).ok_or(Error::NotFound {
        kind: Kind::Coupons,
        id,
    })
}

#[utoipa::path(
    get,
    path = "/coupons/user/{user_id}",
    tag = "coupons",
    params(("user_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The user's coupons by timestamp, then id.", body = [Coupon]),
        (status = 404, description = "No user with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
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
