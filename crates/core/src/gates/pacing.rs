//! Pacing between nodes (`postCompleteDelay`, as system-upgrade-controller's Plan has it): no
//! node of an operation starts until the delay has passed since its latest node finished. Also
//! parses the delay in Kubernetes' duration format (`90s`, `2m`, `1h30m`, `1.5h`). Pure.

use jiff::{SignedDuration, Timestamp};

/// A duration that cannot be parsed; the message quotes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("postCompleteDelay: {0:?} is not a duration such as 90s, 5m or 1h30m")]
pub struct DurationError(pub String);

/// Parses a duration as Kubernetes' `metav1.Duration` (Go's `time.ParseDuration`) writes it:
/// one or more decimal numbers each with a unit among `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
/// Negative durations and overflows are refused.
///
/// # Errors
/// [`DurationError`] quoting the text.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DurationError> {
    let bad = || DurationError(text.to_owned());
    let mut rest = text.trim();
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_nanos: i128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let per: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(bad());
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let mut nanos = whole.checked_mul(per).ok_or_else(bad)?;
        let mut scale = per;
        for digit in frac.bytes().take(18) {
            scale /= 10;
            nanos += i128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(bad)?;
        rest = next;
    }
    let secs = i64::try_from(total_nanos / 1_000_000_000).map_err(|_| bad())?;
    let nanos = i32::try_from(total_nanos % 1_000_000_000).map_err(|_| bad())?;
    Ok(SignedDuration::new(secs, nanos))
}

/// When the next node may start: `delay` after the latest of `finished` (the operation's nodes
/// that finished, in any order); `None` when nothing holds it (no node finished yet, or no
/// delay).
pub fn next_start(
    delay: SignedDuration,
    finished: impl IntoIterator<Item = Timestamp>,
) -> Option<Timestamp> {
    if delay <= SignedDuration::ZERO {
        return None;
    }
    finished.into_iter().max()?.checked_add(delay).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn kubernetes_durations_parse() {
        let s = SignedDuration::from_secs;
        for (text, want) in [
            ("0", s(0)),
            ("90s", s(90)),
            ("2m", s(120)),
            ("1h30m", s(5400)),
            ("1.5h", s(5400)),
            ("1h0m0s", s(3600)),
            (".5s", SignedDuration::from_millis(500)),
            ("300ms", SignedDuration::from_millis(300)),
            ("1m0.25s", SignedDuration::from_millis(60_250)),
            ("10us", SignedDuration::from_micros(10)),
            ("7ns", SignedDuration::from_nanos(7)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn nonsense_is_refused_quoted() {
        for text in [
            "",
            "5",
            "m",
            "-5m",
            "5 m",
            "5d",
            "1.2.3s",
            "h1",
            "5m!",
            "99999999999999999999h",
        ] {
            let e = parse_duration(text).expect_err(text);
            assert!(e.to_string().contains(&format!("{text:?}")), "{e}");
        }
    }

    #[test]
    fn the_next_node_waits_for_the_delay_after_the_latest_finish() {
        let t = |s| Timestamp::from_second(s).expect("in range");
        let d = SignedDuration::from_secs(300);
        assert_eq!(next_start(d, []), None, "nothing finished yet");
        assert_eq!(
            next_start(d, [t(1_000), t(4_000), t(2_000)]),
            Some(t(4_300))
        );
        assert_eq!(next_start(SignedDuration::ZERO, [t(1_000)]), None);
    }

    #[test]
    fn both_micro_signs_and_a_bare_trailing_dot_parse_as_go_does() {
        assert_eq!(parse_duration("5µs"), Ok(SignedDuration::from_micros(5)));
        assert_eq!(parse_duration("5μs"), Ok(SignedDuration::from_micros(5)));
        assert_eq!(parse_duration("1.s"), Ok(SignedDuration::from_secs(1)));
    }

    #[test]
    fn fractions_below_a_nanosecond_are_dropped() {
        assert_eq!(parse_duration("1.9ns"), Ok(SignedDuration::from_nanos(1)));
        assert_eq!(
            parse_duration("0.0000000015s"),
            Ok(SignedDuration::from_nanos(1))
        );
    }

    #[test]
    fn the_error_says_what_a_duration_looks_like() {
        assert_eq!(
            parse_duration("soon").expect_err("refused").to_string(),
            "postCompleteDelay: \"soon\" is not a duration such as 90s, 5m or 1h30m"
        );
    }

    #[test]
    fn a_negative_delay_holds_nothing() {
        let t = Timestamp::from_second(1_000).expect("in range");
        assert_eq!(next_start(SignedDuration::from_secs(-60), [t]), None);
    }

    #[test]
    fn a_delay_past_the_end_of_time_holds_nothing_rather_than_panicking() {
        assert_eq!(
            next_start(SignedDuration::from_hours(24), [Timestamp::MAX]),
            None
        );
    }

    proptest! {
        /// Any composition of units parses to the sum of its parts.
        #[test]
        fn parts_add_up(h in 0i64..1000, m in 0i64..1000, s in 0i64..1000, ms in 0i64..1000) {
            let text = format!("{h}h{m}m{s}s{ms}ms");
            let want = SignedDuration::from_secs(h * 3600 + m * 60 + s) + SignedDuration::from_millis(ms);
            prop_assert_eq!(parse_duration(&text), Ok(want));
        }

        /// Arbitrary text never panics.
        #[test]
        fn arbitrary_text_is_answered(text in ".{0,40}") {
            let _ = parse_duration(&text);
        }
    }
}
