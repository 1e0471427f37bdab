//! `API_URL` leading somewhere else than the api (a gateway answering 404, a redirect) is a
//! misconfiguration, not a verdict on the records: the consumer retries, reports not ready,
//! counts it, and never dead-letters or commits because of it, nor follows the redirect.
//! Once `API_URL` leads to the api, everything is stored.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use slipstream_devkit::eventually;

use crate::helpers::{three_users, Setup};

/// The gateway's second mode; the first (0) answers 404.
const REDIRECT: u8 = 1;

/// What stands at `API_URL` before the api does: a gateway answering 404 in HTML, then one
/// redirecting every request to a page that answers 200.
#[derive(Clone, Default)]
struct Gateway {
    mode: Arc<AtomicU8>,
    redirected: Arc<AtomicUsize>,
    landed: Arc<AtomicUsize>,
}

impl Gateway {
    fn router(&self) -> Router {
        let landing = self.clone();
        let answer = self.clone();
        Router::new()
            .route(
                "/landing",
                get(move || async move {
                    landing.landed.fetch_add(1, Ordering::Relaxed);
                    "welcome"
                })
                .post(|| async { "welcome" }),
            )
            .fallback(move || async move { answer.answer() })
    }

    fn answer(&self) -> Response {
        if self.mode.load(Ordering::Relaxed) == REDIRECT {
            self.redirected.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, "/landing")],
            )
                .into_response();
        }
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Not Found</body></html>",
        )
            .into_response()
    }
}

async fn assert_held_back(setup: &Setup) {
    assert_eq!(setup.committed(), 0, "committed while API_URL was wrong");
    assert_eq!(
        setup.dead_letter_count(),
        0,
        "dead-lettered for a wrong API_URL"
    );
    assert_eq!(
        setup.ready_status().await,
        503,
        "ready while API_URL is wrong"
    );
    let metrics = setup.metrics().await;
    assert!(
        metrics.contains("slipstream_consumer_api_misconfigured_total{topic=")
            && metrics.contains("slipstream_consumer_misconfigured 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_api_url_holds_messages_back_until_it_leads_to_the_api() {
    let mut setup = Setup::start("users", &[]).await;
    let gateway = Gateway::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", setup.api_port))
        .await
        .expect("the api's port is free");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(
        axum::serve(listener, gateway.router())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    setup.write_json(&three_users());
    setup.wait_for_log("check API_URL").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_held_back(&setup).await;

    gateway.mode.store(REDIRECT, Ordering::Relaxed);
    let redirected = gateway.redirected.load(Ordering::Relaxed);
    eventually(
        "the consumer meets the redirect",
        Duration::from_secs(10),
        || async { gateway.redirected.load(Ordering::Relaxed) > redirected + 2 },
    )
    .await;
    assert_held_back(&setup).await;
    assert_eq!(
        gateway.landed.load(Ordering::Relaxed),
        0,
        "followed a redirect"
    );

    // The operator points API_URL at the api: here, the api takes the gateway's place.
    let _ = stop.send(());
    served.await.expect("joined").expect("gateway served");
    setup.start_api().await;
    setup.wait_three_users_flow().await;
    assert!(setup
        .metrics()
        .await
        .contains("slipstream_consumer_misconfigured 0"));
}
