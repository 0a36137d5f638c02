//! Event times: unix milliseconds in the log, RFC 3339 for people.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// RFC 3339 in UTC, always with three fractional digits, so times sort as text.
const UTC_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Now, in unix milliseconds (0 if the clock is before 1970): the unit of
/// event times.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Now, in unix seconds (0 if the clock is before 1970): Docker's unit.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Formats unix milliseconds as RFC 3339 in UTC with milliseconds.
pub fn to_rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(UTC_MILLIS).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Parses an RFC 3339 time (any offset) into unix milliseconds; times before
/// 1970 are refused.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A point in the history, as operators name it: a seq or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Seq(u64),
    Time(u64),
}

impl Point {
    /// `"42"` is a seq, anything else must be an RFC 3339 time.
    pub fn parse(s: &str) -> Option<Point> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok().map(Point::Seq)
        } else {
            parse_rfc3339(s).map(Point::Time)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let ms = 1_764_011_408_123;
        let s = to_rfc3339(ms);
        assert_eq!(s, "2025-11-24T19:10:08.123Z");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        assert_eq!(parse_rfc3339("2025-11-24T20:10:08.123+01:00"), Some(ms));
        assert_eq!(to_rfc3339(1_000), "1970-01-01T00:00:01.000Z");
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn points() {
        assert_eq!(Point::parse("42"), Some(Point::Seq(42)));
        assert_eq!(
            Point::parse("1970-01-01T00:00:01Z"),
            Some(Point::Time(1000))
        );
        assert_eq!(Point::parse(""), None);
        assert_eq!(Point::parse("-1"), None);
        assert_eq!(Point::parse("99999999999999999999999"), None);
    }
}
