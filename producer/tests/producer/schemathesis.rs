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
