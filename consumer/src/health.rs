use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use slipstream_runtime::auth::Auth;
use slipstream_runtime::fatal::Supervisor;
use slipstream_runtime::http::{self, Edge, EdgeArgs};
use slipstream_runtime::{server, Problem};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::group::GroupContext;
use crate::metrics;

/// What `/ready` looks at.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub group: GroupContext,
    pub link: LinkStatus,
}

/// Serves `/`, `/health` (alive), `/ready` (partitions assigned, the api reached with a key
/// it accepts)
/// and `/metrics` until `stop` is cancelled, in `background`. Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    readiness: Readiness,
    edge: &EdgeArgs,
    stop: CancellationToken,
    background: &mut Supervisor,
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
    background.spawn("the health endpoint", async move {
        server::serve(listener, app, limits, stop.cancelled_owned())
            .await
            .context("it stopped serving")
    });
    Ok(bound)
}

async fn ready(State(readiness): State<Readiness>) -> Result<Json<Value>, Problem> {
    match readiness.link.get() {
        Link::Sound => {}
        Link::KeyRefused => {
            return Err(Problem::unavailable(
                "The api refuses this consumer's key (API_KEY); nothing is forwarded until it is fixed.",
                5,
            ))
        }
        Link::NotTheApi => {
            return Err(Problem::unavailable(
                "API_URL answers like something else than the api (a redirect, or a refusal that is not about a record); nothing is forwarded until it is fixed.",
                5,
            ))
        }
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

/// What the api's last answer said about the way to it: set by the forward stage from each
/// forward, read by `/ready` and exported as `slipstream_consumer_misconfigured`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The api answered about a record (stored, or a verdict on it).
    Sound = 0,
    /// 401 or 403: `API_KEY` is missing, wrong, revoked, or lacks the `write` scope.
    KeyRefused = 1,
    /// A redirect, or a 4xx that is not one of the api's verdicts on a record: `API_URL`
    /// leads somewhere else than the api (a gateway, a wrong path).
    NotTheApi = 2,
}

/// The [`Link`] as the forward stage last saw it, shared with `/ready`.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus(Arc<AtomicU8>);

impl LinkStatus {
    pub fn set(&self, link: Link) {
        self.0.store(link as u8, Ordering::Relaxed);
        metrics::misconfigured(link != Link::Sound);
    }

    pub fn get(&self) -> Link {
        match self.0.load(Ordering::Relaxed) {
            1 => Link::KeyRefused,
            2 => Link::NotTheApi,
            _ => Link::Sound,
        }
    }
}
