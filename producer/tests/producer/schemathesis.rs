use slipstream_devkit::{schemathesis, shared_broker};
use slipstream_runtime::auth::Scope;

use crate::helpers::TestProducer;

/// schemathesis generates requests from the producer's own document: every answer must be
/// documented, match its schema and content type, and never be a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn the_producer_answers_as_its_openapi_document_says() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let docs = producer
        .http
        .get(format!("{}/docs", producer.url))
        .send()
        .await
        .expect("reachable");
    assert_eq!(docs.status(), 200, "the interactive docs are served");
    if let Err(error) =
        schemathesis::run(&producer.url, 20, &producer.keys.bearer(Scope::Admin)).await
    {
        panic!("{error:#}");
    }
}

/// In a browser that reaches nothing but 127.0.0.1, the docs page renders the producer's
/// operations from its own assets (Swagger UI puts each path in `data-path`).
#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_renders_its_operations_in_a_browser_without_internet() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let url = format!("{}/docs/", producer.url);
    let dom = tokio::task::spawn_blocking(move || slipstream_devkit::browser::rendered_dom(&url))
        .await
        .expect("joined")
        .expect("chromium renders the page");
    for path in ["/users", "/events", "/coupons"] {
        assert!(
            dom.contains(&format!(r#"data-path="{path}""#)),
            "{path} not rendered:\n{dom}"
        );
    }
}
