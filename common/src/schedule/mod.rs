//! Job schedules (design §4): cron (5, 6 or 7 fields, `@daily`-style macros), fixed rate
//! `@every <duration>`, fixed delay `@delay <duration>` and one-shot `@at <RFC 3339>`.
//!
//! Shared by the scheduler (validation, previews, `next_fires`) and the agent (firing), so
//! both compute the same instants, daylight-saving rules included (see `cron.rs`).

mod cron;
mod dst;
#[cfg(test)]
mod dst_tests;
mod shared;

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use cron::CronSchedule;
pub use shared::SharedSchedule;

const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug, Clone)]
pub enum Schedule {
    Cron(Box<CronSchedule>),
    /// Starts every interval whether or not the previous run finished, counted from whenever
    /// the caller asks (a preview before the job exists).
    Every(Duration),
    /// [`Schedule::Every`] of a stored job: at `anchor + k × interval` (k ≥ 1), the same
    /// instants on every agent, across moves, restarts and edits, and in previews.
    EveryFrom(Duration, DateTime<Utc>),
    /// Next run starts this long after the previous one finished.
    Delay(Duration),
    /// Runs once, then the job is disabled.
    At(DateTime<Utc>),
}

/// Which of the four forms a [`Schedule`] is, for callers that branch on it without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    Cron,
    Every,
    Delay,
    At,
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
        if schedule.next_after(tz, now).is_none() {
            return Err(format!("{raw:?} never fires"));
        }
        Ok(schedule)
    }

    pub fn kind(&self) -> ScheduleKind {
        match self {
            Schedule::Cron(_) => ScheduleKind::Cron,
            Schedule::Every(_) | Schedule::EveryFrom(..) => ScheduleKind::Every,
            Schedule::Delay(_) => ScheduleKind::Delay,
            Schedule::At(_) => ScheduleKind::At,
        }
    }

    pub fn is_cron(&self) -> bool {
        matches!(self, Schedule::Cron(_))
    }

    /// The first fire strictly after `after`. Fixed rate and fixed delay are anchored at
    /// `after` (for a fixed delay the caller passes the moment the previous run finished).
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(c) => c.next_after(tz, after),
            Schedule::Every(d) | Schedule::Delay(d) => {
                after.checked_add_signed(chrono::Duration::from_std(*d).ok()?)
            }
            Schedule::EveryFrom(d, anchor) => every_from(*d, *anchor, after),
            Schedule::At(at) => (*at > after).then_some(*at),
        }
    }

    /// This schedule for a job created at `anchor`: a fixed rate keeps its phase from there;
    /// every other form is unchanged.
    pub fn anchored(self, anchor: DateTime<Utc>) -> Self {
        match self {
            Schedule::Every(d) => Schedule::EveryFrom(d, anchor),
            other => other,
        }
    }

    /// Up to `count` fire instants strictly after `after`, each the [`Self::next_after`] of
    /// the one before. Fixed delay depends on when runs finish, so its preview assumes
    /// instant runs.
    pub fn next_fires(&self, tz: Tz, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        if let Schedule::Cron(c) = self {
            return c.next_fires(tz, after, count);
        }
        let mut fires = Vec::with_capacity(count.min(1024));
        let mut cursor = after;
        while fires.len() < count {
            match self.next_after(tz, cursor) {
                Some(next) => {
                    fires.push(next);
                    cursor = next;
                }
                None => break,
            }
        }
        fires
    }
}

/// The first `anchor + k × every` (k ≥ 1) strictly after `after`.
fn every_from(
    every: Duration,
    anchor: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let every = i64::try_from(every.as_millis()).ok()?.max(1);
    let since = (after - anchor).num_milliseconds();
    let k = if since < 0 { 1 } else { since / every + 1 };
    anchor.checked_add_signed(chrono::Duration::milliseconds(k.checked_mul(every)?))
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

    #[test]
    fn interval_or_fixed_follows_vixie() {
        let interval = |raw: &str| CronSchedule::parse(raw).unwrap().is_interval();
        for raw in [
            "* * * * * *",
            "0 */30 * * * *",
            "0 * 2 * * *",
            "*/15 * * * *",
            "0 0-30/10 2 * * *",
            "0 5,*/20 2 * * *",
            "@hourly",
        ] {
            assert!(interval(raw), "{raw:?} should be interval");
        }
        for raw in [
            "0 30 2 * * *",
            "0 0,30 2 * * *",
            "0 1-3 * * *",
            "30 2 * * *",
            "0 0 12 * * MON-FRI",
            "@daily",
        ] {
            assert!(!interval(raw), "{raw:?} should be fixed");
        }
    }

    #[test]
    fn next_after_is_strict_and_kind_tells_the_form() {
        let at = Schedule::parse("@at 2026-03-05T00:00:00Z", Tz::UTC, now()).unwrap();
        assert_eq!(at.kind(), ScheduleKind::At);
        assert_eq!(
            at.next_after(Tz::UTC, now()).unwrap().to_rfc3339(),
            "2026-03-05T00:00:00+00:00"
        );
        assert_eq!(
            at.next_after(Tz::UTC, "2026-03-05T00:00:00Z".parse().unwrap()),
            None
        );
        let every = Schedule::parse("@every 90s", Tz::UTC, now()).unwrap();
        assert_eq!(every.kind(), ScheduleKind::Every);
        assert!(!every.is_cron());
        assert_eq!(
            every.next_after(Tz::UTC, now()).unwrap().to_rfc3339(),
            "2026-03-02T00:01:30+00:00"
        );
        let cron = Schedule::parse("0 0 * * * *", Tz::UTC, now()).unwrap();
        assert!(cron.is_cron());
        // Exactly on a fire: the next one, not the same instant again.
        assert_eq!(
            cron.next_after(Tz::UTC, now()).unwrap().to_rfc3339(),
            "2026-03-02T01:00:00+00:00"
        );
        let late = now() + chrono::Duration::milliseconds(500);
        assert_eq!(
            cron.next_after(Tz::UTC, late).unwrap().to_rfc3339(),
            "2026-03-02T01:00:00+00:00"
        );
    }

    /// Created at 10:00:00.250 with `@every 1h`: 11:00:00.250, 12:00:00.250, … whenever the
    /// question is asked (a move at 10:30 or a restart at 11:59 does not shift it).
    #[test]
    fn a_stored_fixed_rate_keeps_the_phase_of_its_creation() {
        let anchor: DateTime<Utc> = "2026-03-05T10:00:00.250Z".parse().unwrap();
        let every = Schedule::parse("@every 1h", Tz::UTC, anchor)
            .unwrap()
            .anchored(anchor);
        assert_eq!(every.kind(), ScheduleKind::Every);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let next = |after: &str| every.next_after(Tz::UTC, at(after));
        assert_eq!(
            next("2026-03-05T10:30:00Z"),
            Some(at("2026-03-05T11:00:00.250Z"))
        );
        assert_eq!(
            next("2026-03-05T11:00:00.250Z"),
            Some(at("2026-03-05T12:00:00.250Z"))
        );
        assert_eq!(
            next("2026-03-05T11:59:59Z"),
            Some(at("2026-03-05T12:00:00.250Z"))
        );
        assert_eq!(
            next("2026-03-01T00:00:00Z"),
            Some(at("2026-03-05T11:00:00.250Z"))
        );
        let fires = every.next_fires(Tz::UTC, at("2026-03-05T10:30:00Z"), 2);
        assert_eq!(
            fires,
            [
                at("2026-03-05T11:00:00.250Z"),
                at("2026-03-05T12:00:00.250Z")
            ]
        );
        // Other forms do not change.
        let cron = Schedule::parse("0 * * * *", Tz::UTC, anchor)
            .unwrap()
            .anchored(anchor);
        assert_eq!(
            cron.next_after(Tz::UTC, anchor),
            Some(at("2026-03-05T11:00:00Z"))
        );
    }
}
