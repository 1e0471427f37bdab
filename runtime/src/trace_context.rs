//! Which request ids and W3C trace contexts from clients are kept (SPEC §9); anything else
//! is dropped at the edge, before a log line or a Kafka header could carry it.

/// 1–64 characters of `[A-Za-z0-9._:-]`.
pub fn valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A `traceparent` of W3C Trace Context: `version-trace_id-parent_id-flags` in lower-case
/// hex, with neither id all zeros. Version `ff` is invalid; a later version than `00` may
/// append fields after a `-`.
pub fn valid_traceparent(value: &str) -> bool {
    let bytes = value.as_bytes();
    if !value.is_ascii() || bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
        return false;
    }
    let field = |range: std::ops::Range<usize>| {
        let part = &value[range];
        part.bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then_some(part)
    };
    let dashes = [2, 35, 52].iter().all(|&i| bytes[i] == b'-');
    let (Some(version), Some(trace_id), Some(parent_id), Some(_flags)) =
        (field(0..2), field(3..35), field(36..52), field(53..55))
    else {
        return false;
    };
    let nonzero = |id: &str| id.bytes().any(|b| b != b'0');
    dashes
        && version != "ff"
        && (version != "00" || bytes.len() == 55)
        && nonzero(trace_id)
        && nonzero(parent_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_short_and_plain() {
        for good in [
            "a",
            "req-1.2_3:4",
            &"x".repeat(64),
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        ] {
            assert!(valid_request_id(good), "{good}");
        }
        for bad in ["", &"x".repeat(65), "a b", "ä", "a\nb", "a/b", "<script>"] {
            assert!(!valid_request_id(bad), "{bad}");
        }
    }

    #[test]
    fn traceparents_follow_w3c_trace_context() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(valid_traceparent(good));
        assert!(valid_traceparent(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
        ));
        for bad in [
            "",
            "garbage",
            &good.to_uppercase(),
            &format!("{good}-extra"),
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01é",
        ] {
            assert!(!valid_traceparent(bad), "{bad}");
        }
    }
}
