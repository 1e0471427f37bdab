//! `--rate`: an open-loop offer. Batches go out on a fixed schedule whatever the producer's
//! answers, so a slow producer shows up as latency and late batches instead of quietly
//! lowering the load, and latency counts from the scheduled time, so time spent waiting for
//! a free request slot is not left out (coordinated omission).

use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::{sleep_until, Instant};

use super::latency::Latencies;
use super::post::Outcome;

/// When batches are due: `rate` records per second from `start`. The schedule counts records,
/// not batches, so batch k is due k·batch/rate after the start and a smaller last batch takes
/// only its own records' share of the time.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub rate: NonZeroU32,
    pub batch: usize,
}

impl Schedule {
    /// When batch `k` (from 0) is due.
    pub fn due(&self, k: usize) -> Instant {
        self.start + self.span(k.saturating_mul(self.batch))
    }

    /// How long offering `records` takes at the rate, in whole nanoseconds so that schedules
    /// compare exactly.
    pub fn span(&self, records: usize) -> Duration {
        let nanos = records as u128 * 1_000_000_000 / u128::from(self.rate.get());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// How one entity's schedule was kept, for the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paced {
    /// The schedule's length plus how late its last batch went out: the records over this are
    /// the rate really offered, which falls below the one asked when the producer held it up.
    pub offered: Duration,
    pub batches: usize,
    /// Batches sent after their time because `--concurrency` requests were still in flight.
    pub late: usize,
    /// The latest of those, behind its scheduled time.
    pub max_late: Duration,
    /// Of the accepted batches, from the scheduled time to the 202: what a client keeping to
    /// the schedule would wait, slot waits and retries included.
    pub from_schedule: Latencies,
}

/// Parses `--rate`: a whole number of records per second, at least 1.
pub fn parse_rate(text: &str) -> Result<NonZeroU32, String> {
    let rate: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of records per second"))?;
    if rate < 1 {
        return Err(format!(
            "the rate must be at least 1 record/s, not {rate} \
             (leave --rate out to send as fast as --concurrency allows)"
        ));
    }
    u32::try_from(rate)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("the rate must be at most {} records/s", u32::MAX))
}

/// Offers `chunks` on `schedule` with at most `limit` in flight, and returns what became of
/// each (in the order answered) and how the schedule was kept. It returns no sooner than the
/// schedule ends, so the next entity starts where this one's schedule left off: the upload as
/// a whole keeps to the rate, and the rate achieved cannot exceed the one offered just
/// because the last batch went out whole at its start.
pub async fn offer<'a, F, Fut>(
    chunks: impl IntoIterator<Item = &'a [String]>,
    schedule: Schedule,
    limit: usize,
    mut send: F,
) -> (Vec<Outcome>, Paced)
where
    F: FnMut(&'a [String]) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut offer = Offer {
        in_flight: FuturesUnordered::new(),
        tally: Tally::default(),
    };
    // Until when the dispatcher waited for a free slot: a batch due before then is late.
    let mut held_until = schedule.start;
    let mut last = (Duration::ZERO, 0);
    for (k, chunk) in chunks.into_iter().enumerate() {
        let due = schedule.due(k);
        offer.wait_until(due).await;
        if offer.make_room(limit.max(1)).await {
            held_until = Instant::now();
        }
        let behind = Instant::now().saturating_duration_since(due);
        if due < held_until {
            offer.tally.late(behind);
        }
        last = (behind, k * schedule.batch + chunk.len());
        let request = send(chunk);
        offer
            .in_flight
            .push(async move { (request.await, due, Instant::now()) });
    }
    offer.drain().await;
    let (behind, records) = last;
    let offered = schedule.span(records) + behind;
    sleep_until(schedule.start + offered).await;
    offer.tally.paced(offered)
}

/// A batch answered: its outcome, when it was due and when the answer came.
type Done = (Outcome, Instant, Instant);

struct Offer<Fut> {
    in_flight: FuturesUnordered<Fut>,
    tally: Tally,
}

impl<Fut: Future<Output = Done>> Offer<Fut> {
    /// Takes answers until `due`. Answers go first, so a batch just pushed starts at once even
    /// when the next one is already due.
    async fn wait_until(&mut self, due: Instant) {
        let sleep = sleep_until(due);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.tally.finish(done);
                }
                () = &mut sleep => return,
            }
        }
    }

    /// Takes answers until fewer than `limit` requests are in flight; true when it had to.
    async fn make_room(&mut self, limit: usize) -> bool {
        let full = self.in_flight.len() >= limit;
        while self.in_flight.len() >= limit {
            match self.in_flight.next().await {
                Some(done) => self.tally.finish(done),
                None => break,
            }
        }
        full
    }

    async fn drain(&mut self) {
        while let Some(done) = self.in_flight.next().await {
            self.tally.finish(done);
        }
    }
}

#[derive(Default)]
struct Tally {
    outcomes: Vec<Outcome>,
    from_schedule: Vec<Duration>,
    late: usize,
    max_late: Duration,
}

impl Tally {
    fn finish(&mut self, (outcome, due, answered): Done) {
        if outcome.latency.is_some() {
            self.from_schedule
                .push(answered.saturating_duration_since(due));
        }
        self.outcomes.push(outcome);
    }

    fn late(&mut self, behind: Duration) {
        self.late += 1;
        self.max_late = self.max_late.max(behind);
    }

    fn paced(self, offered: Duration) -> (Vec<Outcome>, Paced) {
        let paced = Paced {
            offered,
            batches: self.outcomes.len(),
            late: self.late,
            max_late: self.max_late,
            from_schedule: Latencies::new(self.from_schedule),
        };
        (self.outcomes, paced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(rate: u32, batch: usize) -> Schedule {
        Schedule {
            start: Instant::now(),
            rate: NonZeroU32::new(rate).expect("a rate of at least 1"),
            batch,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Records numbered from 0, each the time in ms its request takes to be answered.
    fn records(answer_ms: &[u64]) -> Vec<String> {
        answer_ms.iter().map(u64::to_string).collect()
    }

    /// A producer answering each batch 202 after its first record's ms.
    async fn fake_send(chunk: &[String]) -> Outcome {
        let sent = Instant::now();
        let wait = chunk[0].parse().expect("ms");
        tokio::time::sleep(ms(wait)).await;
        Outcome {
            accepted: chunk.len(),
            latency: Some(sent.elapsed()),
            ..Outcome::default()
        }
    }

    async fn offer_batches(
        rate: u32,
        batch: usize,
        limit: usize,
        answer_ms: &[u64],
    ) -> (Vec<Outcome>, Paced) {
        let records = records(answer_ms);
        offer(
            records.chunks(batch),
            schedule(rate, batch),
            limit,
            fake_send,
        )
        .await
    }

    fn assert_near(actual: Duration, expected: Duration) {
        assert!(
            actual >= expected && actual <= expected + ms(2),
            "{actual:?}, expected {expected:?}"
        );
    }

    #[test]
    fn batch_k_is_due_k_batches_of_records_after_the_start() {
        let s = schedule(1_000, 100);

        assert_eq!(s.due(0), s.start);
        assert_eq!(s.due(1) - s.start, ms(100));
        assert_eq!(s.due(7) - s.start, ms(700));
        let thirds = schedule(3, 1);
        assert_eq!(
            thirds.due(1) - thirds.start,
            Duration::from_nanos(333_333_333)
        );
        let fast = schedule(10_000, 100);
        assert_eq!(fast.due(100) - fast.start, Duration::from_secs(1));
    }

    #[test]
    fn a_partial_last_batch_is_due_by_the_records_before_it_and_takes_its_share_only() {
        let s = schedule(1_000, 100);

        // 250 records: batches of 100, 100 and 50.
        assert_eq!(s.due(2) - s.start, ms(200));
        assert_eq!(
            s.span(250),
            ms(250),
            "not the 300 ms of three whole batches"
        );
    }

    #[test]
    fn the_rate_is_a_whole_number_of_records_per_second_of_at_least_one() {
        assert_eq!(parse_rate("10000").map(NonZeroU32::get), Ok(10_000));
        for refused in ["0", "-5"] {
            let error = parse_rate(refused).expect_err(refused);
            assert!(error.contains("at least 1 record/s"), "{error}");
        }
        for refused in ["1.5", "fast", ""] {
            let error = parse_rate(refused).expect_err(refused);
            assert!(error.contains("not a whole number"), "{error}");
        }
        assert!(parse_rate("4294967296").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn batches_go_out_on_schedule_however_long_the_answers_take() {
        // 10 ms apart, each answered after 45 ms: five in flight, within the limit of 8.
        let start = Instant::now();
        let (outcomes, paced) = offer_batches(1_000, 10, 8, &[45; 100]).await;

        assert!(start.elapsed() >= ms(135), "every answer taken");
        assert_eq!(outcomes.len(), 10);
        assert_eq!((paced.batches, paced.late), (10, 0));
        assert_near(paced.offered, ms(100));
        assert_near(
            paced.from_schedule.percentile(0.0).expect("accepted"),
            ms(45),
        );
        assert_near(paced.from_schedule.max().expect("accepted"), ms(45));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_finds_every_slot_taken_is_late_and_its_wait_counts_as_latency() {
        // One slot, batches due every 10 ms, each answered after 25 ms: sent at 0, 25, 50, 75.
        let (outcomes, paced) = offer_batches(100, 1, 1, &[25; 4]).await;

        assert_eq!(outcomes.iter().map(|o| o.accepted).sum::<usize>(), 4);
        assert_eq!((paced.batches, paced.late), (4, 3));
        assert_near(paced.max_late, ms(45));
        // The last answer came at 100 ms for a batch due at 30 ms; each request took 25 ms.
        assert_near(paced.from_schedule.max().expect("accepted"), ms(70));
        let from_send = Latencies::new(outcomes.iter().filter_map(|o| o.latency).collect());
        assert_near(from_send.max().expect("accepted"), ms(25));
        // 4 records offered in 40 ms + 45 ms: under half the rate asked.
        assert_near(paced.offered, ms(85));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_hold_up_the_late_batches_go_at_once_and_the_rest_on_time() {
        // 10 ms apart, one slot: the first answer takes 35 ms, then 1 ms each. Batches 1 to 3
        // go at 35, 36 and 37 ms; 4 and 5 at their 40 and 50 ms.
        let start = Instant::now();
        let (_, paced) = offer_batches(100, 1, 1, &[35, 1, 1, 1, 1, 1]).await;

        assert_eq!((paced.batches, paced.late), (6, 3));
        assert_near(paced.max_late, ms(25));
        assert_near(paced.offered, ms(60));
        assert!(
            start.elapsed() >= ms(60),
            "the last record's share of the schedule waited out, not just its 1 ms answer"
        );
    }
}
