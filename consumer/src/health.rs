use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use slipstream_runtime::auth::Auth;
use slipstream_runtime::http::{self, Edge, EdgeArgs};
use slipstream_runtime::{server, Problem};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::group::GroupContext;

/// What `/ready` looks at.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub group: GroupContext,
    pub key: KeyStatus,
}

/// Serves `/`, `/health` (alive), `/ready` (partitions assigned, key accepted by the api)
/// and `/metrics` until `stop` is cancelled. Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    readiness: Readiness,
    edge: &EdgeArgs,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let auth = Auth::from_args(&edge.auth)?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("Failed to bind {address}"))?;
    let bound = listener.local_addr()?;
    let routes: Router = http::about_routes("slipstream-consumer", env!("CARGO_PKG_VERSION"))
        .route("/ready", get(ready))
        .with_state(readiness);
    let edge_layers = Edge {
        body_limit: 1024,
        timeout: Duration::from_secs(5),
        auth,
    };
    let app = http::edge(routes, edge_layers);
    let limits = edge.limits;
    tokio::spawn(async move {
        let served = server::serve(listener, app, limits, stop.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "The health endpoint failed.");
        }
    });
    Ok(bound)
}

async fn ready(State(readiness): State<Readiness>) -> Result<Json<Value>, Problem> {
    if readiness.key.is_refused() {
        return Err(Problem::unavailable(
            "The api refuses this consumer's key (API_KEY); nothing is forwarded until it is fixed.",
            5,
        ));
    }
    if readiness.group.is_assigned() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(Problem::unavailable(
            "No partitions are assigned to this consumer yet.",
            1,
        ))
    }
}

/// Whether the api refused this consumer's key on the last forward: set by the worker,
/// read by `/ready`.
#[derive(Debug, Clone, Default)]
pub struct KeyStatus(Arc<AtomicBool>);

impl KeyStatus {
    pub fn set_refused(&self, refused: bool) {
        self.0.store(refused, Ordering::Relaxed);
    }

    pub fn is_refused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
