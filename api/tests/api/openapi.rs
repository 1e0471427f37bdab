use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

const REGENERATE: &str = "cargo run -p api --bin api-openapi > openapi.json";

#[test]
fn the_committed_openapi_json_is_the_generated_document() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == api::openapi::document_json(),
        "openapi.json at the repository root is stale; regenerate it with `{REGENERATE}`"
    );
}

#[tokio::test]
async fn the_document_and_the_docs_page_are_served() {
    let app = TestApp::spawn().await;
    let served: Value = app.get("/openapi.json").await.json().await.expect("JSON");
    let generated = serde_json::to_value(api::openapi::document()).expect("serializes");
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.expect("text").contains("<html"));
}

/// In a browser that reaches nothing but 127.0.0.1, the docs page renders the operations
/// from assets of the api's own: Swagger UI draws each operation with its path in
/// `data-path`, which neither the page's HTML nor the document carries.
#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_renders_its_operations_in_a_browser_without_internet() {
    let app = TestApp::spawn().await;
    let url = format!("{}/docs/", app.address);
    let dom = tokio::task::spawn_blocking(move || slipstream_devkit::browser::rendered_dom(&url))
        .await
        .expect("joined")
        .expect("chromium renders the page");
    for path in ["/recommendation/{user_id}", "/coupons", "/users/{id}"] {
        assert!(
            dom.contains(&format!(r#"data-path="{path}""#)),
            "{path} not rendered:\n{dom}"
        );
    }
    assert!(dom.contains("authorize"), "no way to give a key:\n{dom}");
}
