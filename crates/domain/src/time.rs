//! The one timestamp format of the ILMT API: `YYYY-MM-DDTHH:MM:SSZ` in UTC.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a UTC time as `2022-08-30T03:09:04Z` (whole seconds).
pub fn format_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 time into UTC.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_whole_seconds_with_z() {
        let t = Utc.with_ymd_and_hms(2022, 8, 30, 3, 9, 4).unwrap();
        assert_eq!(format_utc(t), "2022-08-30T03:09:04Z");
        assert_eq!(parse_utc("2022-08-30T03:09:04Z"), Some(t));
    }
}
