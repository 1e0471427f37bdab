//! The producer's accept latency: how long each request it answered 202 took, kept whole
//! (one duration per request, a few thousand to a million) so the percentiles are exact.

use std::time::Duration;

/// Accept latencies, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut durations: Vec<Duration>) -> Self {
        durations.sort_unstable();
        Self(durations)
    }

    /// All of `parts` together, for the total row.
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a Latencies>) -> Self {
        Self::new(
            parts
                .into_iter()
                .flat_map(|l| l.0.iter().copied())
                .collect(),
        )
    }

    /// The nearest-rank percentile (`q` in 0..=1): the shortest latency that at least `q` of
    /// the requests did not exceed. `None` when no request was accepted.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let rank = (q.clamp(0.0, 1.0) * self.0.len() as f64).ceil() as usize;
        self.0.get(rank.max(1) - 1).copied()
    }

    /// The longest, `None` when no request was accepted.
    pub fn max(&self) -> Option<Duration> {
        self.0.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Latencies {
        Latencies::new(values.into_iter().map(Duration::from_millis).collect())
    }

    #[test]
    fn percentiles_are_nearest_rank_whatever_the_order_recorded() {
        let latencies = ms((1..=100).rev());

        assert_eq!(latencies.percentile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(latencies.percentile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(latencies.percentile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(latencies.percentile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(latencies.max(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn one_slow_request_in_a_few_is_the_p99() {
        let latencies = Latencies::merged([&ms([1, 2]), &ms([300])]);

        assert_eq!(latencies.percentile(0.5), Some(Duration::from_millis(2)));
        assert_eq!(latencies.percentile(0.99), Some(Duration::from_millis(300)));
    }

    #[test]
    fn no_accepted_request_has_no_percentile() {
        assert_eq!(Latencies::default().percentile(0.5), None);
        assert_eq!(Latencies::default().max(), None);
    }
}
