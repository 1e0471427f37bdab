use std::time::Duration;

use serde_json::{json, Value};

use slipstream_devkit::eventually;

use crate::helpers::Pipeline;
use slipstream_testkit::records;

fn event(id: i64, sport: &str, day: u32) -> Value {
    let begin = format!("2031-03-{day:02}T18:00:00Z")
        .parse()
        .expect("a time");
    let event = records::event_at(begin).id(id).set("sport", sport);
    let participants = [format!("Home {id}"), format!("Away {id}")];
    event.set("participants", participants.to_vec()).into()
}

async fn recommended(pipeline: &Pipeline, user: i64) -> Vec<i64> {
    let answer = pipeline
        .get(&format!("/recommendation/{user}"))
        .await
        .unwrap_or(Value::Null);
    answer["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["id"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_posted_to_the_producer_reaches_the_recommendations_of_its_sports_fans() {
    let pipeline = Pipeline::start().await;
    let user =
        json!({"id": 1, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "F"});
    for (path, body) in [
        ("/users", user),
        ("/events", event(10, "Basketball", 1)),
        ("/events", event(11, "tennis", 2)),
    ] {
        assert_eq!(pipeline.produce(path, &body).await.0, 202);
    }
    let coupon =
        json!({"id": 1, "user_id": 1, "stake": 3, "selections": [{"event_id": 10, "odds": 1.9}]});
    assert_eq!(pipeline.produce("/coupons", &coupon).await.0, 202);
    eventually("the coupon is stored", Duration::from_secs(60), || async {
        pipeline.get("/coupons/1").await.is_some()
    })
    .await;
    assert_eq!(
        recommended(&pipeline, 1).await,
        [11],
        "nothing of the favourite sport yet: filled with popular"
    );

    // A new basketball event: it must lead the fan's list without any regeneration.
    assert_eq!(
        pipeline
            .produce("/events", &event(12, "basketball", 3))
            .await
            .0,
        202
    );
    eventually(
        "the new event is recommended",
        Duration::from_secs(30),
        || async { recommended(&pipeline, 1).await == [12, 11] },
    )
    .await;
    let answer = pipeline
        .get("/recommendation/1")
        .await
        .expect("recommendation");
    assert_eq!(
        (&answer["favourite_sport"], &answer["events"][0]["reason"]),
        (&json!("basketball"), &json!("favourite_sport"))
    );
}
