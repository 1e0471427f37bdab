//! The table printed after an upload, one row per entity, like the original system's
//! performance table.

use std::io::Write;
use std::time::Duration;

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
}

/// Writes the table with a total row.
pub fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:>9} {:>8} {:>10} {:>7} {:>8}",
        "entity", "amount", "seconds", "records/s", "errors", "retries"
    )?;
    let total = Row {
        name: "total",
        amount: rows.iter().map(|r| r.amount).sum(),
        elapsed: rows.iter().map(|r| r.elapsed).sum(),
        errors: rows.iter().map(|r| r.errors).sum(),
        retries: rows.iter().map(|r| r.retries).sum(),
    };
    for row in rows.iter().chain([&total]) {
        writeln!(
            out,
            "{:<8} {:>9} {:>8.3} {:>10.1} {:>7} {:>8}",
            row.name,
            row.amount,
            row.elapsed.as_secs_f64(),
            row.rate(),
            row.errors,
            row.retries
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_row_per_entity_and_a_total_with_the_rate_of_records_taken() {
        let row = |name, amount, ms, errors| Row {
            name,
            amount,
            elapsed: Duration::from_millis(ms),
            errors,
            retries: 0,
        };
        let mut out = Vec::new();
        write_table(
            &mut out,
            &[row("users", 100, 500, 0), row("coupons", 300, 1500, 100)],
        )
        .expect("writes");
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            [
                "entity",
                "amount",
                "seconds",
                "records/s",
                "errors",
                "retries"
            ]
        );
        assert_eq!(lines[1], ["users", "100", "0.500", "200.0", "0", "0"]);
        assert_eq!(lines[2], ["coupons", "300", "1.500", "133.3", "100", "0"]);
        assert_eq!(lines[3], ["total", "400", "2.000", "150.0", "100", "0"]);
    }
}
