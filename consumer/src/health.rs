use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use slipstream_runtime::http;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `/` and `/health` until `stop` is cancelled, so an orchestrator can tell the
/// process is alive. Returns the bound address.
pub async fn serve(address: SocketAddr, stop: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("Failed to bind {address}"))?;
    let bound = listener.local_addr()?;
    let routes: Router = http::about_routes("slipstream-consumer", env!("CARGO_PKG_VERSION"));
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
