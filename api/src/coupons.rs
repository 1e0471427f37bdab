//! `POST /coupons`, `GET /coupons/{id}`, `GET /coupons/user/{user_id}`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use slipstream_model::{Coupon, Kind};
use slipstream_runtime::{JsonBody, Problem};

use crate::error::{Error, Result};
use crate::openapi;
use crate::startup::AppState;
use crate::web::{save_body, IdPath, Stored};

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
    request_body(content = inline(openapi::Coupons), content_type = "application/json", description = "One coupon, or a batch of up to 1,000 stored in one transaction."),
    responses(
        (status = 201, description = "Created; the stored record.", body = Coupon),
        (status = 200, description = "One record: the identical record was already stored; the stored record. A batch: every record is stored; for each, the status a POST of it alone would have had (201 or 200) and the stored record.", body = inline(openapi::CouponsStored)),
        (status = 409, description = "`id-conflict`: a record with this id exists with different content; `missing-reference`: the user or events are not stored (`missing` lists their ids); `ids-exhausted`: no id left to assign. In a batch, `index` names the record, and nothing of the batch is stored.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot take the write now.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(State(state): State<AppState>, JsonBody(body): JsonBody) -> Result<Stored<Coupon>> {
    let recommender = state.recommender.clone();
    save_body(&state.store, &body, move |coupon: &Coupon| {
        recommender.coupon_stored(coupon)
    })
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
