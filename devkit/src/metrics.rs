//! Reading the Prometheus text format in tests.

/// The value of the sample of `name` whose labels include every pair of `labels` (other
/// labels may be present), summed when several match; `None` when none does.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches = series_name == name
            && labels.iter().all(|(k, v)| {
                series_labels
                    .split(',')
                    .any(|pair| pair == format!("{k}=\"{v}\""))
            });
        if let (true, Ok(value)) = (matches, value.parse::<f64>()) {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_found_by_name_and_some_labels() {
        let text =
            "# HELP x_total X.\nx_total{a=\"1\",b=\"2\"} 3\nx_total{a=\"1\",b=\"3\"} 4\ny 5\n";
        assert_eq!(sample(text, "x_total", &[("a", "1")]), Some(7.0));
        assert_eq!(sample(text, "x_total", &[("b", "3")]), Some(4.0));
        assert_eq!(sample(text, "y", &[]), Some(5.0));
        assert_eq!(sample(text, "x_total", &[("a", "2")]), None);
        assert_eq!(sample(text, "x", &[]), None);
    }
}
