//! The metric names a PromQL expression selects.
//!
//! A dashboard panel or an alert rule that names a metric no service exports shows "No data"
//! or never fires, and nothing says why. The monitoring tests compare the names found here with
//! those a live Prometheus scraped. Prometheus's own parser is Go; a tokenizer that knows what
//! is *not* a metric name (functions, keywords, label matchers and lists, ranges, numbers,
//! durations, strings, Grafana variables) is enough for the expressions we write.
//!
//! Not handled: a name given only as a `__name__` matcher inside braces.

use std::collections::BTreeSet;

/// Operators and modifiers that read like identifiers but are part of the language (besides
/// the label-list keywords below).
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "atan2", "bool", "offset", "inf", "nan",
];

/// Keywords followed by a parenthesised list of label names, not by an expression.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators: reserved words, which may be followed by `by (...)` rather than `(`.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Every metric name `expr` selects, without the labels, ranges or functions around it.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let text = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut at = 0;
    while at < text.len() {
        at = match text[at] {
            b'"' | b'\'' | b'`' => skip_string(text, at),
            b'{' => skip_group(text, at, b'{', b'}'),
            b'[' => skip_group(text, at, b'[', b']'),
            b'#' => skip_comment(text, at),
            b'$' => skip_variable(text, at),
            byte if byte.is_ascii_digit() || starts_fraction(text, at) => skip_number(text, at),
            byte if is_name_start(byte) => read_word(text, at, &mut names),
            _ => at + 1,
        };
    }
    names
}

/// Reads the identifier at `start`, records it when it is a metric name, and returns where
/// scanning goes on (past a label list when the identifier introduces one).
fn read_word(text: &[u8], start: usize, names: &mut BTreeSet<String>) -> usize {
    let end = scan_while(text, start, is_name_char);
    let word = String::from_utf8_lossy(&text[start..end]);
    let lower = word.to_ascii_lowercase();
    let next = scan_while(text, end, |byte| byte.is_ascii_whitespace());
    let opens_paren = text.get(next) == Some(&b'(');
    if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
        return if opens_paren {
            skip_group(text, next, b'(', b')')
        } else {
            end
        };
    }
    let is_call = opens_paren || AGGREGATIONS.contains(&word.as_ref());
    if !is_call && !KEYWORDS.contains(&lower.as_str()) {
        names.insert(word.into_owned());
    }
    end
}

/// Skips a quoted string, honouring backslash escapes (none in backquoted raw strings).
fn skip_string(text: &[u8], start: usize) -> usize {
    let quote = text[start];
    let mut at = start + 1;
    while at < text.len() {
        match text[at] {
            b'\\' if quote != b'`' => at += 2,
            byte if byte == quote => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

/// Skips from an opening bracket to its matching close, stepping over strings inside (a label
/// value may hold any bracket).
fn skip_group(text: &[u8], start: usize, open: u8, close: u8) -> usize {
    let mut depth = 0usize;
    let mut at = start;
    while at < text.len() {
        match text[at] {
            b'"' | b'\'' | b'`' => {
                at = skip_string(text, at);
                continue;
            }
            byte if byte == open => depth += 1,
            byte if byte == close => {
                depth -= 1;
                if depth == 0 {
                    return at + 1;
                }
            }
            _ => {}
        }
        at += 1;
    }
    text.len()
}

fn skip_comment(text: &[u8], start: usize) -> usize {
    scan_while(text, start, |byte| byte != b'\n')
}

/// Grafana's template variables: `$__rate_interval`, `$job`, `${job}`, `${job:regex}`.
fn skip_variable(text: &[u8], start: usize) -> usize {
    match text.get(start + 1) {
        Some(b'{') => skip_group(text, start + 1, b'{', b'}'),
        _ => scan_while(text, start + 1, is_name_char),
    }
}

/// Numbers and durations: `0.99`, `1e3`, `0x1f`, `5m`, `1h30m`.
fn skip_number(text: &[u8], start: usize) -> usize {
    scan_while(text, start, |byte| {
        byte.is_ascii_alphanumeric() || byte == b'.'
    })
}

fn starts_fraction(text: &[u8], at: usize) -> bool {
    text[at] == b'.' && text.get(at + 1).is_some_and(u8::is_ascii_digit)
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte == b':'
}

fn is_name_char(byte: u8) -> bool {
    is_name_start(byte) || byte.is_ascii_digit()
}

fn scan_while(text: &[u8], start: usize, keep: impl Fn(u8) -> bool) -> usize {
    text[start..]
        .iter()
        .position(|&byte| !keep(byte))
        .map_or(text.len(), |offset| start + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn a_bare_selector_is_its_name() {
        assert_eq!(names("up == 0"), ["up"]);
        assert_eq!(names("job:requests:rate5m"), ["job:requests:rate5m"]);
    }

    #[test]
    fn label_matchers_and_ranges_are_not_names() {
        let expr = r#"rate(http_requests_total{status=~"5..", route!~"/health|{x}"}[5m])"#;
        assert_eq!(names(expr), ["http_requests_total"]);
    }

    #[test]
    fn aggregations_and_their_label_lists_are_not_names() {
        let expr = "histogram_quantile(0.99, sum by (le, route) (rate(x_bucket[5m]))) > 0.1";
        assert_eq!(names(expr), ["x_bucket"]);
        assert_eq!(
            names("sum(rate(a[1m])) without (instance) / count(b)"),
            ["a", "b"]
        );
        assert_eq!(names("topk(5, a) or quantile(0.5, b)"), ["a", "b"]);
    }

    #[test]
    fn set_operators_offsets_and_matching_are_not_names() {
        let expr = "(a unless a offset 5m) and on (instance) (up offset 1h30m == 1)";
        assert_eq!(names(expr), ["a", "up"]);
        let expr = "a * ignoring(x) group_left (service) b > bool 1 or c atan2 d";
        assert_eq!(names(expr), ["a", "b", "c", "d"]);
        assert_eq!(names("a * on(x) group_right b"), ["a", "b"]);
    }

    #[test]
    fn strings_numbers_and_special_values_are_not_names() {
        let expr =
            r#"label_replace(x, "dst", "$1 {", "src", '(.*)') > 1e3 or y < +Inf or z != NaN"#;
        assert_eq!(names(expr), ["x", "y", "z"]);
        assert_eq!(names("a > .5 and b < 0x1F"), ["a", "b"]);
    }

    #[test]
    fn subqueries_and_at_modifiers_are_not_names() {
        assert_eq!(names("max_over_time(deriv(a[1m])[5m:30s])"), ["a"]);
        assert_eq!(names("a @ end() - b @ 1609746000"), ["a", "b"]);
    }

    #[test]
    fn grafana_variables_and_comments_are_not_names() {
        let expr = "rate(a[$__rate_interval]) / $__interval_ms * ${scale} # per second\n+ b";
        assert_eq!(names(expr), ["a", "b"]);
    }
}
