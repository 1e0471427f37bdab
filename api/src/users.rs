//! `POST /users`, `GET /users/{id}`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use slipstream_model::{Kind, User};
use slipstream_runtime::auth::{self, Scope};
use slipstream_runtime::{JsonText, Problem};

use crate::error::{Error, Result};
use crate::openapi;
use crate::startup::AppState;
use crate::web::{save_body, IdPath, Stored};

pub fn router() -> Router<AppState> {
    let writes = Router::new().route("/users", post(create));
    let reads = Router::new().route("/users/{id}", get(read));
    auth::scoped(Scope::Write, writes).merge(auth::scoped(Scope::Read, reads))
}

#[utoipa::path(
    post,
    path = "/users",
    security(("bearer" = ["write"])),
    tag = "users",
    request_body(content = inline(openapi::Users), content_type = "application/json", description = "One user, or a batch of up to 1,000 stored in one transaction."),
    responses(
        (status = 201, description = "Created; the stored record.", body = User),
        (status = 200, description = "One record: the identical record was already stored; the stored record. A batch: every record is stored; for each, the status a POST of it alone would have had (201 or 200) and the stored record.", body = inline(openapi::UsersStored)),
        (status = 409, description = "`id-conflict`: a record with this id exists with different content; `ids-exhausted`: no id left to assign. In a batch, `index` names the record, and nothing of the batch is stored.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot take the write now.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(State(state): State<AppState>, JsonText(body): JsonText) -> Result<Stored<User>> {
    save_body::<User>(&state.writer, &body, true).await
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    security(("bearer" = ["read"])),
    tag = "users",
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The stored user.", body = User),
        (status = 404, description = "No user with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state))]
async fn read(State(state): State<AppState>, IdPath(id): IdPath) -> Result<Json<User>> {
    let user = state.store.find(id).await?;
    user.map(Json).ok_or(Error::NotFound {
        kind: Kind::Users,
        id,
    })
}
