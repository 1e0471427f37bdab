use slipstream_devkit::schemathesis;
use slipstream_runtime::auth::Scope;

use crate::helpers::TestApp;

/// schemathesis generates requests from the api's own document: every answer must be
/// documented, match its schema and content type, and never be a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_as_its_openapi_document_says() {
    let app = TestApp::spawn().await;
    if let Err(error) = schemathesis::run(&app.address, 30, &app.keys.bearer(Scope::Admin)).await {
        panic!("{error:#}");
    }
}
