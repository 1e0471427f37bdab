use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use slipstream_runtime::{http, Problem};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::group::GroupContext;

/// Serves `/`, `/health` (alive) and `/ready` (partitions assigned) until `stop` is
/// cancelled. Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    group: GroupContext,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("Failed to bind {address}"))?;
    let bound = listener.local_addr()?;
    let routes: Router = http::about_routes("slipstream-consumer", env!("CARGO_PKG_VERSION"))
        .route("/ready", get(ready))
        .with_state(group);
    let app = http::edge(routes, 1024, std::time::Duration::from_secs(5));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "The health endpoint failed.");
        }
    });
    Ok(bound)
}

async fn ready(State(group): State<GroupContext>) -> Result<Json<Value>, Problem> {
    if group.is_assigned() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(Problem::unavailable(
            "No partitions are assigned to this consumer yet.",
            1,
        ))
    }
}
