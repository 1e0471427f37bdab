//! Builds the app and runs it: shared by `main` and the tests.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use slipstream_runtime::{http, shutdown};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::store::Store;
use crate::{coupons, events, health, users};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
}

/// Every route, without the edge layers.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(users::router())
        .merge(events::router())
        .merge(coupons::router())
        .with_state(state)
}

/// The whole app as it is served: routes wrapped in the shared HTTP edge.
pub fn app(state: AppState, config: &Config) -> Router {
    http::edge(
        routes(state),
        config.body_limit_bytes,
        config.request_timeout(),
    )
}

/// The api, bound to its port and connected to its database, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
}

impl Application {
    /// Opens the database, applies migrations and binds the port (0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config).await?;
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("Failed to bind {address}"))?;
        let router = app(
            AppState {
                store: store.clone(),
            },
            &config,
        );
        Ok(Self {
            listener,
            router,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves until `stop` resolves, then finishes in-flight requests and closes the database.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self
            .listener
            .local_addr()
            .context("Failed to read the bound address")?;
        tracing::info!(%address, "Serving.");
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await
            .context("Failed to serve");
        self.store.close().await;
        tracing::info!("Stopped.");
        served
    }
}
