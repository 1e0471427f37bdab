//! The api's business series: records stored, recommendations served, and how long keeping
//! them fresh takes per trigger.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Counter;
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
    /// A replica found that feed rows it had not applied were pruned.
    Resync,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Event => "event",
            Self::Coupon => "coupon",
            Self::Manual => "manual",
            Self::Periodic => "periodic",
            Self::Resync => "resync",
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

/// Counts a list served by its strategy (`favourite_sport` or `popular`). The two counters
/// are made once: this runs on every read, where the registry's lookup was a visible cost.
pub fn served(strategy: &'static str) {
    static SERVED: OnceLock<[(&str, Counter); 2]> = OnceLock::new();
    let counters = SERVED
        .get_or_init(|| ["favourite_sport", "popular"].map(|name| (name, served_counter(name))));
    match counters.iter().find(|(name, _)| *name == strategy) {
        Some((_, counter)) => counter.increment(1),
        None => served_counter(strategy).increment(1),
    }
}

fn served_counter(strategy: &'static str) -> Counter {
    metrics::counter!("slipstream_recommendations_served_total", "strategy" => strategy)
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
