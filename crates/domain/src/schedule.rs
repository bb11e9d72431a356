//! The import schedule: when the next scheduled import starts.

use crate::import::ImportType;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// When scheduled imports start, in the schedule's time zone: a daily
/// time or a cron expression, always with its compiled form (only
/// [`ScheduleSpec::daily`] and [`ScheduleSpec::cron`] make one, so the
/// text and what runs cannot disagree).
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    kind: SpecKind,
    cron: Cron,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SpecKind {
    /// Every day at this local time (hour 0–23, minute 0–59).
    Daily { hour: u32, minute: u32 },
    /// A five-field cron expression (minute hour day-of-month month
    /// day-of-week) that matches some real date.
    Cron(String),
}

impl PartialEq for ScheduleSpec {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for ScheduleSpec {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{0}` is not a daily time; expected HH:MM, 24-hour, e.g. 00:00 or 23:30")]
    BadDailyTime(String),
    #[error("`{expr}` is not a valid cron expression: {reason} (expected 5 fields: minute hour day-of-month month day-of-week, e.g. `0 2 * * *`)")]
    BadCron { expr: String, reason: String },
    #[error("`{0}` is not a known time zone; use an IANA name such as UTC, Europe/Warsaw or America/New_York")]
    BadTimeZone(String),
}

/// A schedule: on or off, when, in which time zone, which kind of import.
/// Every value of it is valid (its parts are checked when they are made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    enabled: bool,
    spec: ScheduleSpec,
    timezone: Tz,
    import_type: ImportType,
}

impl ScheduleSpec {
    /// Parses `HH:MM` into a daily spec.
    pub fn daily(text: &str) -> Result<ScheduleSpec, ScheduleError> {
        let bad = || ScheduleError::BadDailyTime(text.chars().take(64).collect());
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour: u32 = h.parse().map_err(|_| bad())?;
        let minute: u32 = m.parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        let cron = compile(&daily_cron(hour, minute)).map_err(|_| bad())?;
        Ok(ScheduleSpec {
            kind: SpecKind::Daily { hour, minute },
            cron,
        })
    }

    /// Parses a five-field cron expression (taken as given: callers trim
    /// it if they want). One that never matches a real date (e.g. 30
    /// February) is refused too.
    pub fn cron(expr: &str) -> Result<ScheduleSpec, ScheduleError> {
        let cron = compile(expr)?;
        if cron
            .find_next_occurrence(&Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(), false)
            .is_err()
        {
            return Err(ScheduleError::BadCron {
                expr: expr.to_string(),
                reason: "it never matches a real date".into(),
            });
        }
        Ok(ScheduleSpec {
            kind: SpecKind::Cron(expr.to_string()),
            cron,
        })
    }

    /// The cron expression equivalent to this spec.
    pub fn cron_expression(&self) -> String {
        match &self.kind {
            SpecKind::Daily { hour, minute } => daily_cron(*hour, *minute),
            SpecKind::Cron(expr) => expr.clone(),
        }
    }

    /// `HH:MM` for a daily spec.
    pub fn daily_time(&self) -> Option<String> {
        match self.kind {
            SpecKind::Daily { hour, minute } => Some(format!("{hour:02}:{minute:02}")),
            SpecKind::Cron(_) => None,
        }
    }

    /// The expression of a cron spec as it was given; `None` for a daily
    /// spec.
    pub fn cron_text(&self) -> Option<&str> {
        match &self.kind {
            SpecKind::Daily { .. } => None,
            SpecKind::Cron(expr) => Some(expr),
        }
    }
}

/// Parses an IANA time zone name.
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::BadTimeZone(name.chars().take(64).collect()))
}

fn compile(expr: &str) -> Result<Cron, ScheduleError> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(ScheduleError::BadCron {
            expr: expr.chars().take(128).collect(),
            reason: format!("it has {fields} fields"),
        });
    }
    Cron::new(expr).parse().map_err(|e| ScheduleError::BadCron {
        expr: expr.chars().take(128).collect(),
        reason: e.to_string(),
    })
}

impl Schedule {
    /// A schedule of valid parts; it cannot fail.
    pub fn new(
        enabled: bool,
        spec: ScheduleSpec,
        timezone: Tz,
        import_type: ImportType,
    ) -> Schedule {
        Schedule {
            enabled,
            spec,
            timezone,
            import_type,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn import_type(&self) -> ImportType {
        self.import_type
    }

    /// The default: daily at 00:00 in the given (server local) time zone, complete.
    pub fn default_in(timezone: Tz) -> Schedule {
        let spec = ScheduleSpec {
            kind: SpecKind::Daily { hour: 0, minute: 0 },
            cron: Cron::new("0 0 * * *")
                .parse()
                .expect("a constant, valid expression"),
        };
        Schedule::new(true, spec, timezone, ImportType::Complete)
    }

    /// The first slot strictly after `t`, or `None` when the schedule is off.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        self.slot_after(t)
    }

    fn slot_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        let mut next = self.spec.cron.find_next_occurrence(&local, false).ok()?;
        // At a fall-back DST change croner searches in local wall time, so an
        // answer can lie at or before `t` (the repeated hour): step past it.
        let mut guard = 0;
        while next.with_timezone(&Utc) <= t && guard < 4 {
            next = self
                .spec
                .cron
                .find_next_occurrence(&(next + chrono::Duration::hours(1)), true)
                .ok()?;
            guard += 1;
        }
        Some(next.with_timezone(&Utc))
    }

    /// Whether a slot fell in `(after, until]`: a start-up uses it to run a
    /// slot missed while the server was down.
    pub fn missed_slot(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_after(after).filter(|s| *s <= until)
    }
}

/// The cron expression of a daily time.
fn daily_cron(hour: u32, minute: u32) -> String {
    format!("{minute} {hour} * * *")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn default_is_daily_midnight_local() {
        let s = Schedule::default_in(chrono_tz::Europe::Warsaw);
        // 28 Nov 2026: Warsaw is UTC+1, so local midnight is 23:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 11, 28, 17, 0)),
            Some(utc(2026, 11, 28, 23, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 11, 28, 23, 0)),
            Some(utc(2026, 11, 29, 23, 0))
        );
    }

    #[test]
    fn daily_time_across_spring_forward() {
        // New York springs forward on 8 March 2026: 02:00 EST -> 03:00 EDT.
        let ny = chrono_tz::America::New_York;
        let s = Schedule::new(
            true,
            ScheduleSpec::daily("01:30").unwrap(),
            ny,
            ImportType::Complete,
        );
        assert_eq!(
            s.next_after(utc(2026, 3, 7, 12, 0)),
            Some(utc(2026, 3, 8, 6, 30))
        );
        assert_eq!(
            s.next_after(utc(2026, 3, 8, 7, 0)),
            Some(utc(2026, 3, 9, 5, 30))
        );
        // A time inside the gap runs at the first valid instant after it.
        let gap = Schedule::new(
            true,
            ScheduleSpec::daily("02:30").unwrap(),
            ny,
            ImportType::Complete,
        );
        assert_eq!(
            gap.next_after(utc(2026, 3, 7, 12, 0)),
            Some(utc(2026, 3, 8, 7, 0))
        );
    }

    #[test]
    fn daily_time_across_fall_back_runs_once() {
        // New York falls back on 1 November 2026: 01:00-02:00 happens twice.
        let ny = chrono_tz::America::New_York;
        let s = Schedule::new(
            true,
            ScheduleSpec::daily("01:30").unwrap(),
            ny,
            ImportType::Complete,
        );
        let first = s.next_after(utc(2026, 10, 31, 12, 0)).unwrap();
        assert_eq!(first, utc(2026, 11, 1, 5, 30)); // 01:30 EDT
        let second = s.next_after(first).unwrap();
        assert_eq!(second, utc(2026, 11, 2, 6, 30)); // next day 01:30 EST
    }

    #[test]
    fn cron_expressions() {
        let s = Schedule::new(
            true,
            ScheduleSpec::cron("15 */6 * * 1-5").unwrap(),
            chrono_tz::UTC,
            ImportType::RawOnly,
        );
        // Saturday 28 Nov 2026 -> Monday 30 Nov 00:15.
        assert_eq!(
            s.next_after(utc(2026, 11, 28, 17, 0)),
            Some(utc(2026, 11, 30, 0, 15))
        );
        assert_eq!(
            s.next_after(utc(2026, 11, 30, 0, 15)),
            Some(utc(2026, 11, 30, 6, 15))
        );
    }

    #[test]
    fn disabled_has_no_next() {
        let on = Schedule::default_in(chrono_tz::UTC);
        let s = Schedule::new(false, on.spec().clone(), on.timezone(), on.import_type());
        assert!(!s.enabled() && on.enabled());
        assert_eq!(s.next_after(utc(2026, 1, 1, 0, 0)), None);
    }

    #[test]
    fn missed_slot_detection() {
        let s = Schedule::default_in(chrono_tz::UTC);
        assert_eq!(
            s.missed_slot(utc(2026, 1, 1, 12, 0), utc(2026, 1, 3, 12, 0)),
            Some(utc(2026, 1, 2, 0, 0))
        );
        assert_eq!(
            s.missed_slot(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 23, 0)),
            None
        );
    }

    #[test]
    fn bad_input_is_explained() {
        assert!(ScheduleSpec::daily("24:00").is_err());
        assert!(ScheduleSpec::daily("7").is_err());
        assert!(ScheduleSpec::daily("07:5").is_err());
        for bad in [
            "* * *",
            "61 * * * *",
            "0 0 30 2 *",
            "a b c d e",
            "* * * * * *",
        ] {
            assert!(ScheduleSpec::cron(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert_eq!(
            parse_timezone("Europe/Warsaw").unwrap(),
            chrono_tz::Europe::Warsaw
        );
    }

    #[test]
    fn specs_hold_their_compiled_form() {
        let d = ScheduleSpec::daily(" 7:05 ").unwrap();
        assert_eq!(d.daily_time().as_deref(), Some("07:05"));
        assert_eq!(d.cron_expression(), "5 7 * * *");
        assert_eq!(d.cron_text(), None);
        let c = ScheduleSpec::cron("15 */6 * * 1-5").unwrap();
        assert_eq!(c.daily_time(), None);
        assert_eq!(c.cron_text(), Some("15 */6 * * 1-5"));
        assert_eq!(c.cron_expression(), "15 */6 * * 1-5");
        // The same time, said two ways, runs at the same slots.
        let tz = chrono_tz::Europe::Warsaw;
        let daily = Schedule::new(true, d, tz, ImportType::Complete);
        let cron = Schedule::new(
            true,
            ScheduleSpec::cron("5 7 * * *").unwrap(),
            tz,
            ImportType::Complete,
        );
        assert_ne!(daily, cron, "a daily spec is not a cron spec");
        let t = utc(2026, 11, 28, 17, 0);
        assert_eq!(daily.next_after(t), cron.next_after(t));
        assert_eq!(daily.next_after(t), Some(utc(2026, 11, 29, 6, 5)));
    }

    #[test]
    fn cron_errors_keep_their_messages() {
        let e = ScheduleSpec::cron("0 0 30 2 *").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`0 0 30 2 *` is not a valid cron expression: it never matches a real date (expected 5 fields: minute hour day-of-month month day-of-week, e.g. `0 2 * * *`)"
        );
        let e = ScheduleSpec::cron("* * *").unwrap_err();
        assert!(e.to_string().contains("it has 3 fields"), "{e}");
        let e = ScheduleSpec::daily("24:00").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`24:00` is not a daily time; expected HH:MM, 24-hour, e.g. 00:00 or 23:30"
        );
    }
}
