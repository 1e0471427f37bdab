//! One request id follows a record from the producer through Kafka and the consumer to the
//! api, and the caller's `traceparent` goes with it: both appear in each service's log.

use std::time::Duration;

use slipstream_devkit::eventually;

use crate::helpers::{Options, Pipeline};

#[tokio::test(flavor = "multi_thread")]
async fn a_request_id_and_traceparent_follow_a_record_into_every_service_log() {
    let mut options = Options::default();
    for service in ["producer", "consumer-users", "api"] {
        options = options.env(
            service,
            "RUST_LOG",
            "info,producer=debug,consumer=debug,api=debug,slipstream_runtime=debug",
        );
    }
    let pipeline = Pipeline::start_with(options).await;
    let request_id = format!("trace-{}", uuid::Uuid::new_v4().simple());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answered = pipeline
        .produce_user_with_context(4242, &request_id, traceparent)
        .await;
    assert_eq!(answered, request_id, "a well-formed request id is kept");
    eventually("the user is stored", Duration::from_secs(30), || async {
        pipeline.get("/users/4242").await.is_some()
    })
    .await;

    let id = format!(r#""request_id":"{request_id}""#);
    let trace = format!(r#""traceparent":"{traceparent}""#);
    eventually(
        "every service logged the request",
        Duration::from_secs(10),
        || async {
            pipeline.logged("producer", &[&id, &trace])
            && pipeline.logged("consumer-users", &["Message stored.", &id, &trace])
            // Logged inside the store's write task: the id reaches the deepest lines.
            && pipeline.logged("api", &["Saved a record.", &id, &trace])
        },
    )
    .await;
}
