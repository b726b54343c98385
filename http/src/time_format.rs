//! RFC 3339 UTC times, as API.md fixes them (`2026-03-15T10:00:00Z`), to and
//! from the engine's millisecond timestamps.

use boxoffice_engine::Timestamp;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats a timestamp as RFC 3339 in UTC; whole seconds drop the fraction.
pub fn rfc3339(ts: Timestamp) -> String {
    let nanos = i128::from(ts.0) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let t = if ts.0 % 1_000 == 0 {
                t.replace_nanosecond(0).unwrap_or(t)
            } else {
                t
            };
            t.format(&Rfc3339).unwrap_or_else(|_| ts.0.to_string())
        }
        // Out of the calendar's range: only reachable with MIN/MAX sentinels.
        Err(_) => if ts.0 < 0 {
            "0000-01-01T00:00:00Z"
        } else {
            "9999-12-31T23:59:59Z"
        }
        .to_string(),
    }
}

/// Parses an RFC 3339 time with any offset.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).ok().map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_normalizes_to_utc() {
        let t = parse_rfc3339("2026-03-15T10:00:00Z").expect("parse");
        assert_eq!(t, Timestamp(1_773_568_800_000));
        assert_eq!(rfc3339(t), "2026-03-15T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-03-15T19:00:00+09:00"), Some(t));
        assert_eq!(
            rfc3339(Timestamp(1_773_568_800_123)),
            "2026-03-15T10:00:00.123Z"
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-03-15"), None);
    }
}
