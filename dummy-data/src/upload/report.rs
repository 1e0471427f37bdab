//! The table printed after an upload, one row per entity, like the original system's
//! performance table.

use std::io::Write;
use std::num::NonZeroU32;
use std::time::Duration;

use super::latency::Latencies;
use super::pace::Paced;

/// What one entity's upload came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: &'static str,
    /// Records in the file.
    pub amount: usize,
    pub elapsed: Duration,
    /// Records the producer never took.
    pub errors: usize,
    pub retries: u32,
    /// Of every request the producer answered 202, retry waits left out.
    pub latencies: Latencies,
    /// How `--rate`'s schedule was kept; `None` without it.
    pub paced: Option<Paced>,
}

impl Row {
    /// Records taken per second of this entity's upload.
    fn rate(&self) -> f64 {
        per_second(self.amount - self.errors, self.elapsed)
    }

    /// The accept latency at `q` in milliseconds, or `-` when nothing was accepted.
    fn latency_ms(&self, q: f64) -> String {
        ms(self.latencies.percentile(q))
    }
}

fn per_second(records: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    }
}

/// Milliseconds with two decimals, or `-` for no latency at all.
fn ms(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.2}", d.as_secs_f64() * 1e3),
    )
}

/// All rows together: their entities were uploaded one after the other.
fn total(rows: &[Row]) -> Row {
    Row {
        name: "total",
        amount: rows.iter().map(|r| r.amount).sum(),
        elapsed: rows.iter().map(|r| r.elapsed).sum(),
        errors: rows.iter().map(|r| r.errors).sum(),
        retries: rows.iter().map(|r| r.retries).sum(),
        latencies: Latencies::merged(rows.iter().map(|r| &r.latencies)),
        paced: None,
    }
}

/// Writes the table with a total row.
pub fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:>9} {:>8} {:>10} {:>7} {:>8} {:>7} {:>7}",
        "entity", "amount", "seconds", "records/s", "errors", "retries", "p50 ms", "p99 ms"
    )?;
    let total = total(rows);
    for row in rows.iter().chain([&total]) {
        writeln!(
            out,
            "{:<8} {:>9} {:>8.3} {:>10.1} {:>7} {:>8} {:>7} {:>7}",
            row.name,
            row.amount,
            row.elapsed.as_secs_f64(),
            row.rate(),
            row.errors,
            row.retries,
            row.latency_ms(0.5),
            row.latency_ms(0.99)
        )?;
    }
    Ok(())
}

/// With `--rate`, under the table: the rate asked, the rate really offered (lower when late
/// batches left the schedule behind) and the rate the producer accepted; the batches that
/// found every request slot taken; and the accept latency from the send and, the figure a
/// client on the schedule sees, from the scheduled time. Totals over every entity.
pub fn write_rate(out: &mut impl Write, rows: &[Row], asked: NonZeroU32) -> std::io::Result<()> {
    let total = total(rows);
    let paced: Vec<&Paced> = rows.iter().filter_map(|r| r.paced.as_ref()).collect();
    let offered = per_second(total.amount, paced.iter().map(|p| p.offered).sum());
    writeln!(
        out,
        "rate: asked {asked} records/s, offered {offered:.1} records/s, achieved {:.1} records/s",
        total.rate()
    )?;
    let max_late = paced.iter().map(|p| p.max_late).max().unwrap_or_default();
    writeln!(
        out,
        "late: {} of {} batches, at most {} ms behind schedule",
        paced.iter().map(|p| p.late).sum::<usize>(),
        paced.iter().map(|p| p.batches).sum::<usize>(),
        ms(Some(max_late))
    )?;
    let from_schedule = Latencies::merged(paced.iter().map(|p| &p.from_schedule));
    write_latency(out, "from send", &total.latencies)?;
    write_latency(out, "from schedule", &from_schedule)
}

fn write_latency(out: &mut impl Write, from: &str, latencies: &Latencies) -> std::io::Result<()> {
    writeln!(
        out,
        "accept {from}: p50 {} ms, p99 {} ms, max {} ms",
        ms(latencies.percentile(0.5)),
        ms(latencies.percentile(0.99)),
        ms(latencies.max())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &'static str, amount: usize, ms: u64, errors: usize, latencies: &[u64]) -> Row {
        Row {
            name,
            amount,
            elapsed: Duration::from_millis(ms),
            errors,
            retries: 0,
            latencies: Latencies::new(
                latencies
                    .iter()
                    .copied()
                    .map(Duration::from_millis)
                    .collect(),
            ),
            paced: None,
        }
    }

    #[test]
    fn table_has_a_row_per_entity_and_a_total_with_the_rate_taken_and_accept_latencies() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &[
                row("users", 100, 500, 0, &[2, 4]),
                row("events", 50, 500, 50, &[]),
                row("coupons", 300, 1500, 100, &[1, 3, 30]),
            ],
        )
        .expect("writes");
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let header = "entity amount seconds records/s errors retries p50 ms p99 ms";
        assert_eq!(lines[0], header.split(' ').collect::<Vec<_>>());
        let users = ["users", "100", "0.500", "200.0", "0", "0", "2.00", "4.00"];
        assert_eq!(lines[1], users);
        let events = ["events", "50", "0.500", "0.0", "50", "0", "-", "-"];
        assert_eq!(lines[2], events, "nothing accepted, no latency");
        let coupons = [
            "coupons", "300", "1.500", "133.3", "100", "0", "3.00", "30.00",
        ];
        assert_eq!(lines[3], coupons);
        let total = [
            "total", "450", "2.500", "120.0", "150", "0", "3.00", "30.00",
        ];
        assert_eq!(lines[4], total, "percentiles over every request");
    }

    fn paced(offered_ms: u64, batches: usize, late: usize, max_late_us: u64, ms: &[u64]) -> Paced {
        Paced {
            offered: Duration::from_millis(offered_ms),
            batches,
            late,
            max_late: Duration::from_micros(max_late_us),
            from_schedule: Latencies::new(ms.iter().copied().map(Duration::from_millis).collect()),
        }
    }

    #[test]
    fn the_rate_lines_give_the_rates_asked_offered_and_achieved_the_late_batches_and_latencies() {
        let mut users = row("users", 100, 500, 0, &[2, 4]);
        users.paced = Some(paced(100, 10, 0, 0, &[3, 5]));
        let mut coupons = row("coupons", 300, 1500, 0, &[1, 3, 30]);
        coupons.paced = Some(paced(400, 30, 2, 12_500, &[2, 40]));
        let mut out = Vec::new();

        let asked = NonZeroU32::new(1_000).expect("not zero");
        write_rate(&mut out, &[users, coupons], asked).expect("writes");

        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "rate: asked 1000 records/s, offered 800.0 records/s, achieved 200.0 records/s",
                "late: 2 of 40 batches, at most 12.50 ms behind schedule",
                "accept from send: p50 3.00 ms, p99 30.00 ms, max 30.00 ms",
                "accept from schedule: p50 3.00 ms, p99 40.00 ms, max 40.00 ms",
            ]
        );
    }

    #[test]
    fn the_rate_lines_show_no_latency_when_nothing_was_accepted() {
        let mut events = row("events", 50, 500, 50, &[]);
        events.paced = Some(paced(50, 5, 0, 0, &[]));
        let mut out = Vec::new();

        let asked = NonZeroU32::new(1_000).expect("not zero");
        write_rate(&mut out, &[events], asked).expect("writes");

        let text = String::from_utf8(out).expect("UTF-8");
        assert!(
            text.contains("offered 1000.0 records/s, achieved 0.0 records/s"),
            "{text}"
        );
        assert!(
            text.contains("accept from schedule: p50 - ms, p99 - ms, max - ms"),
            "{text}"
        );
    }
}
