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

    /// TEMPORARY SHIM until the DST-aware version lands.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_fires(tz, after, 1).into_iter().next()
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
