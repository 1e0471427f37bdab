//! Builds the app and runs it: shared by `main` and the tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use slipstream_runtime::auth::Auth;
use slipstream_runtime::http::{self, Edge};
use slipstream_runtime::openapi::docs_routes;
use slipstream_runtime::server::{self, Limits};
use slipstream_runtime::shutdown;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::cause_chain;
use crate::metrics::{self, Trigger};
use crate::recommendations::{self, Recommender};
use crate::store::Store;
use crate::writer::Writer;
use crate::{coupons, events, health, openapi, users};

/// What every handler can reach, behind one `Arc`: the router clones the state for every
/// request, and one reference count is cheaper to bump than one per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    /// For reads; every write goes through `writer`.
    pub store: Store,
    pub writer: Writer,
    pub recommender: Arc<Recommender>,
    /// Held by the one `POST /recommendation/generate` running.
    pub generating: tokio::sync::Mutex<()>,
}

impl AppState {
    pub fn new(store: Store, writer: Writer, recommender: Arc<Recommender>) -> Self {
        Self(Arc::new(Shared {
            store,
            writer,
            recommender,
            generating: tokio::sync::Mutex::new(()),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Every route, without the edge layers; each resource's router states its scope.
pub fn routes(state: AppState, docs: bool) -> Router {
    let routes = Router::new()
        .merge(health::router())
        .merge(users::router())
        .merge(events::router())
        .merge(coupons::router())
        .merge(recommendations::router());
    let routes = if docs {
        routes.merge(docs_routes(openapi::document()))
    } else {
        routes
    };
    routes.with_state(state)
}

/// The whole app as it is served: routes wrapped in the shared HTTP edge.
pub fn app(state: AppState, config: &Config, auth: Auth) -> Router {
    let edge = Edge {
        body_limit: config.body_limit_bytes,
        timeout: config.request_timeout(),
        auth,
    };
    let app = http::edge(routes(state, config.edge.docs_enabled), edge);
    // After the edge installed the recorder, which keeps only what comes after it.
    metrics::describe();
    app
}

/// The api, bound to its port and connected to its database, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    writer: Writer,
    recommender: Arc<Recommender>,
    refresh: Option<Duration>,
    limits: Limits,
}

impl Application {
    /// Reads the keys, opens the database, applies migrations and binds the port (0 picks a
    /// free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let auth = Auth::from_args(&config.edge.auth)?;
        let store = Store::connect(&config).await?;
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("Failed to bind {address}"))?;
        let recommender = Arc::new(Recommender::default());
        let writer = Writer::spawn(
            store.clone(),
            recommender.clone(),
            config.count_flush_coupons as usize,
            config.feed(),
        );
        let state = AppState::new(store.clone(), writer.clone(), recommender.clone());
        Ok(Self {
            listener,
            router: app(state, &config, auth),
            store,
            writer,
            recommender,
            refresh: config.recommendation_refresh(),
            limits: config.edge.limits,
        })
    }

    /// Builds the recommendations from the database in the background, so the api serves
    /// and stores at once (`/ready` waits for the build), then keeps the periodic pass
    /// running.
    fn start_recommendations(&self) -> tokio::task::JoinHandle<()> {
        let (writer, refresh) = (self.writer.clone(), self.refresh);
        tokio::spawn(recommendations::report_staleness(self.recommender.clone()));
        tokio::spawn(async move {
            // The writer logs a failure.
            if writer.rebuild(Trigger::Startup).await.is_err() {
                return;
            }
            if let Some(every) = refresh {
                recommendations::run_periodic_pass(writer, every).await;
            }
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
        let background = self.start_recommendations();
        tracing::info!(%address, "Serving.");
        let served = server::serve(self.listener, self.router, self.limits, stop)
            .await
            .context("Failed to serve");
        background.abort();
        // A restart then has nothing to recount.
        if let Err(error) = self.writer.write_counts().await {
            tracing::error!(error = %cause_chain(&error), "Failed to write the counts.");
        }
        self.store.close().await;
        tracing::info!("Stopped.");
        served
    }
}
