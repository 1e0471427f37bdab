//! The table printed after an upload, one row per entity, like the original system's
//! performance table.

use std::io::Write;
use std::time::Duration;

use super::latency::Latencies;

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
}

impl Row {
    /// Records taken per second of this entity's upload.
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.amount - self.errors) as f64 / secs
        } else {
            0.0
        }
    }

    /// The accept latency at `q` in milliseconds, or `-` when nothing was accepted.
    fn latency_ms(&self, q: f64) -> String {
        self.latencies.percentile(q).map_or_else(
            || "-".to_owned(),
            |d| format!("{:.2}", d.as_secs_f64() * 1e3),
        )
    }
}

/// Writes the table with a total row.
pub fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:>9} {:>8} {:>10} {:>7} {:>8} {:>7} {:>7}",
        "entity", "amount", "seconds", "records/s", "errors", "retries", "p50 ms", "p99 ms"
    )?;
    let total = Row {
        name: "total",
        amount: rows.iter().map(|r| r.amount).sum(),
        elapsed: rows.iter().map(|r| r.elapsed).sum(),
        errors: rows.iter().map(|r| r.errors).sum(),
        retries: rows.iter().map(|r| r.retries).sum(),
        latencies: Latencies::merged(rows.iter().map(|r| &r.latencies)),
    };
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
}
