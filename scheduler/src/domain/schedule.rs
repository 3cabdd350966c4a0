//! Job schedules (design §4): cron (5, 6 or 7 fields, `@daily`-style macros), fixed rate
//! `@every <duration>`, fixed delay `@delay <duration>` and one-shot `@at <RFC 3339>`.
//!
//! croner is the engine, but three of its behaviours differ from Vixie cron and are corrected
//! here at the edge: day-of-month/day-of-week are ANDed when either field starts with `*`
//! (croner only treats a literal `*` so); month and weekday names are only accepted in their
//! own field (croner substitutes them across the whole pattern, so `0 0 * MON *` would mean
//! January); and a pattern that can never fire is refused instead of accepted silently.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug, Clone)]
pub enum Schedule {
    Cron(Box<CronSchedule>),
    /// Starts every interval whether or not the previous run finished.
    Every(Duration),
    /// Next run starts this long after the previous one finished.
    Delay(Duration),
    /// Runs once, then the job is disabled.
    At(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
}

impl Schedule {
    /// Parses and validates `raw`; `tz` is needed to prove a cron pattern fires at all.
    pub fn parse(raw: &str, tz: Tz, now: DateTime<Utc>) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("schedule is empty".into());
        }
        if let Some(rest) = raw.strip_prefix("@every") {
            return parse_interval(rest).map(Schedule::Every);
        }
        if let Some(rest) = raw.strip_prefix("@delay") {
            return parse_interval(rest).map(Schedule::Delay);
        }
        if let Some(rest) = raw.strip_prefix("@at") {
            let at = DateTime::parse_from_rfc3339(rest.trim())
                .map_err(|_| {
                    format!(
                        "{:?} is not an RFC 3339 instant (e.g. 2026-12-01T08:00:00+08:00)",
                        rest.trim()
                    )
                })?
                .with_timezone(&Utc);
            return Ok(Schedule::At(at));
        }
        let schedule = Schedule::Cron(Box::new(CronSchedule::parse(raw)?));
        if schedule.next_fires(tz, now, 1).is_empty() {
            return Err(format!("{raw:?} never fires"));
        }
        Ok(schedule)
    }

    /// Up to `count` fire instants strictly after `after`. Fixed rate is anchored at `after`;
    /// fixed delay depends on when runs finish, so its preview assumes instant runs.
    pub fn next_fires(&self, tz: Tz, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        match self {
            Schedule::Cron(c) => c.next_fires(tz, after, count),
            Schedule::Every(d) | Schedule::Delay(d) => {
                let step = chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX);
                (1..=count as i32)
                    .filter_map(|k| after.checked_add_signed(step * k))
                    .collect()
            }
            Schedule::At(at) => {
                if *at > after && count > 0 {
                    vec![*at]
                } else {
                    Vec::new()
                }
            }
        }
    }
}

impl CronSchedule {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let expanded = match raw.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@hourly" => "0 * * * *".to_owned(),
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown macro {raw:?} (use @yearly, @monthly, @weekly, @daily, @hourly, @every, @delay or @at)"
                ));
            }
            _ => raw.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        // Index of (dom, month, dow) in the field list.
        let (dom, month, dow) = match fields.len() {
            5 => (2, 3, 4),
            6 | 7 => (3, 4, 5),
            n => return Err(format!("expected 5, 6 or 7 fields, found {n}")),
        };
        const NAMES: [&str; 7] = [
            "second",
            "minute",
            "hour",
            "day-of-month",
            "month",
            "day-of-week",
            "year",
        ];
        let offset = if fields.len() == 5 { 1 } else { 0 };
        for (i, field) in fields.iter().enumerate() {
            let upper = field.to_ascii_uppercase();
            let words = upper
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty());
            for word in words {
                let ok = (i == month && MONTHS.contains(&word))
                    || (i == dow && (WEEKDAYS.contains(&word) || word == "L"))
                    || (i == dom && (word == "L" || word == "W" || word == "LW"));
                if !ok {
                    return Err(format!(
                        "{word:?} is not allowed in the {} field",
                        NAMES[i + offset]
                    ));
                }
            }
        }
        // Vixie cron: if either day field starts with `*` (including `*/n`), both must match.
        let dom_and_dow = fields[dom].starts_with('*') || fields[dow].starts_with('*');
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Optional)
            .dom_and_dow(dom_and_dow)
            .build()
            .parse(&expanded)
            .map_err(|e| format!("invalid cron expression: {e}"))?;
        Ok(Self { cron })
    }

    pub fn next_fires(&self, tz: Tz, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut fires = Vec::with_capacity(count);
        let mut cursor = after.with_timezone(&tz);
        while fires.len() < count {
            match self.cron.find_next_occurrence(&cursor, false) {
                Ok(next) => {
                    fires.push(next.with_timezone(&Utc));
                    cursor = next;
                }
                Err(_) => break,
            }
        }
        fires
    }
}

/// `30s`, `1h30m`, `1h 30m`: between 1 s and 366 days.
fn parse_interval(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let d = humantime::parse_duration(raw)
        .map_err(|_| format!("{raw:?} is not a duration (e.g. 30s, 5m, 1h30m)"))?;
    if d < MIN_INTERVAL || d > MAX_INTERVAL || d.subsec_nanos() != 0 {
        return Err(format!("{raw:?} must be whole seconds between 1s and 366d"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn fires(raw: &str, n: usize) -> Vec<DateTime<Utc>> {
        Schedule::parse(raw, Tz::UTC, now())
            .unwrap()
            .next_fires(Tz::UTC, now(), n)
    }

    #[test]
    fn five_six_and_seven_fields_and_macros() {
        assert_eq!(
            fires("*/15 * * * *", 2)[1].to_rfc3339(),
            "2026-03-02T00:30:00+00:00"
        );
        assert_eq!(
            fires("*/10 * * * * *", 1)[0].to_rfc3339(),
            "2026-03-02T00:00:10+00:00"
        );
        assert_eq!(
            fires("0 0 12 1 1 * 2027", 1)[0].to_rfc3339(),
            "2027-01-01T12:00:00+00:00"
        );
        assert_eq!(
            fires("@daily", 1)[0].to_rfc3339(),
            "2026-03-03T00:00:00+00:00"
        );
        assert_eq!(
            fires("@hourly", 1)[0].to_rfc3339(),
            "2026-03-02T01:00:00+00:00"
        );
        assert_eq!(
            fires("0 9 * JAN-MAR MON-FRI", 1)[0].to_rfc3339(),
            "2026-03-02T09:00:00+00:00"
        );
    }

    #[test]
    fn day_fields_follow_vixie() {
        // `*/1` in day-of-month ANDs with the weekday: weekends only, not every day.
        for fire in fires("0 0 */1 * */6", 6) {
            assert!(
                matches!(fire.weekday(), Weekday::Sat | Weekday::Sun),
                "{fire}"
            );
        }
        // Both restricted: OR — the 1st of the month or any Monday.
        let either = fires("0 0 1 * MON", 6);
        assert!(
            either
                .iter()
                .all(|f| f.day() == 1 || f.weekday() == Weekday::Mon)
        );
        assert!(
            either
                .iter()
                .any(|f| f.day() == 1 && f.weekday() != Weekday::Mon)
        );
    }

    #[test]
    fn names_only_in_their_own_field() {
        let err = Schedule::parse("0 0 * MON *", Tz::UTC, now()).unwrap_err();
        assert!(err.contains("month"), "{err}");
        let err = Schedule::parse("0 0 * * JAN", Tz::UTC, now()).unwrap_err();
        assert!(err.contains("day-of-week"), "{err}");
    }

    #[test]
    fn schedules_that_never_fire_are_refused() {
        assert!(
            Schedule::parse("0 0 0 30 2 *", Tz::UTC, now())
                .unwrap_err()
                .contains("never fires")
        );
        assert!(Schedule::parse("0 0 * * L", Tz::UTC, now()).is_err());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for bad in [
            "",
            "* * *",
            "61 * * * *",
            "@sometimes",
            "@every",
            "@every 0s",
            "@every 500ms",
            "@at tomorrow",
        ] {
            assert!(
                Schedule::parse(bad, Tz::UTC, now()).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn every_delay_and_at() {
        assert_eq!(
            fires("@every 1h30m", 2)[1].to_rfc3339(),
            "2026-03-02T03:00:00+00:00"
        );
        assert_eq!(
            fires("@delay 30s", 1)[0].to_rfc3339(),
            "2026-03-02T00:00:30+00:00"
        );
        assert_eq!(fires("@at 2026-03-05T08:00:00+08:00", 3).len(), 1);
        assert!(fires("@at 2026-01-01T00:00:00Z", 3).is_empty());
    }

    #[test]
    fn time_zones_shift_wall_times() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let s = Schedule::parse("0 30 2 * * *", tz, now()).unwrap();
        assert_eq!(
            s.next_fires(tz, now(), 1)[0].to_rfc3339(),
            "2026-03-02T18:30:00+00:00"
        );
    }
}
