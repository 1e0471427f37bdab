//! The producer's series: records per topic and result, and how long Kafka takes to
//! acknowledge a request's records.

use std::time::Duration;

pub fn describe() {
    metrics::describe_counter!(
        "slipstream_producer_records_total",
        "Records per topic and result: accepted (acknowledged by Kafka, answered 202) or failed."
    );
    metrics::describe_histogram!(
        "slipstream_producer_produce_duration_seconds",
        metrics::Unit::Seconds,
        "Time from handing a request's records to Kafka to its last acknowledgement."
    );
}

pub fn produced(topic: &str, accepted: usize, failed: usize, took: Duration) {
    for (result, count) in [("accepted", accepted), ("failed", failed)] {
        if count > 0 {
            let labels = [("topic", topic.to_owned()), ("result", result.to_owned())];
            metrics::counter!("slipstream_producer_records_total", &labels).increment(count as u64);
        }
    }
    metrics::histogram!("slipstream_producer_produce_duration_seconds", "topic" => topic.to_owned())
        .record(took.as_secs_f64());
}
