//! The api's business series: records stored, recommendations served, and how long keeping
//! them fresh takes per trigger.

use std::time::Duration;

use slipstream_model::Kind;

/// What made the recommendations change.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// The first build when the api starts.
    Startup,
    Event,
    Coupon,
    /// `POST /recommendation/generate`.
    Manual,
    /// The pass retiring ended events and listing held-back ones.
    Periodic,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Event => "event",
            Self::Coupon => "coupon",
            Self::Manual => "manual",
            Self::Periodic => "periodic",
        }
    }
}

pub fn describe() {
    metrics::describe_counter!(
        "slipstream_api_records_total",
        "Records written, by kind and result: created, or replayed (the same record again)."
    );
    metrics::describe_counter!(
        "slipstream_api_write_groups_total",
        "Transactions the writer committed; each holds one or more write requests."
    );
    metrics::describe_counter!(
        "slipstream_api_write_group_requests_total",
        "Write requests committed, each in a group: over the groups, the mean group size."
    );
    metrics::describe_counter!(
        "slipstream_recommendations_served_total",
        "Recommendation lists served, by strategy: favourite_sport (personal) or popular."
    );
    metrics::describe_gauge!(
        "slipstream_recommendation_staleness_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest stored change the recommendations do not reflect yet (0: all fresh)."
    );
    metrics::describe_histogram!(
        "slipstream_recommendation_regeneration_duration_seconds",
        metrics::Unit::Seconds,
        "Time to bring the recommendations up to date, by trigger."
    );
}

pub fn stored(kind: Kind, created: bool) {
    let result = if created { "created" } else { "replayed" };
    metrics::counter!("slipstream_api_records_total", "kind" => kind.as_str(), "result" => result)
        .increment(1);
}

/// A group of `requests` write requests committed together.
pub fn group_committed(requests: usize) {
    metrics::counter!("slipstream_api_write_groups_total").increment(1);
    metrics::counter!("slipstream_api_write_group_requests_total").increment(requests as u64);
}

pub fn served(strategy: &'static str) {
    metrics::counter!("slipstream_recommendations_served_total", "strategy" => strategy)
        .increment(1);
}

pub fn staleness(age: Duration) {
    metrics::gauge!("slipstream_recommendation_staleness_seconds").set(age.as_secs_f64());
}

pub fn regenerated(trigger: Trigger, took: Duration) {
    metrics::histogram!(
        "slipstream_recommendation_regeneration_duration_seconds",
        "trigger" => trigger.as_str()
    )
    .record(took.as_secs_f64());
}
