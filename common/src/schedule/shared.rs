//! A schedule held by a job (the agent's held jobs, the leader's next-fires view), with its
//! cron pattern parsed on use through one bounded cache.
//!
//! croner keeps a byte per possible year (1 to 5000) in every parsed pattern, so one cron
//! pattern costs about 5.8 KB parsed: 25,000 jobs holding one each would take ~140 MiB (the
//! leader's 100,000, ~560 MiB). A job therefore keeps only the text of a cron pattern, and the
//! parsed form lives in a process-wide LRU cache of [`CACHED_PATTERNS`] entries (~12 MiB at
//! most). Jobs usually share a few hundred patterns (`0 * * * *`, `*/5 * * * *`), which all stay
//! parsed; with more distinct patterns than the cache holds, a fire re-parses its pattern
//! (under 20 µs in a release build, measured 2026-12-02), far below the cost of the fire itself.

use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hashlink::LruCache;

use super::{CronSchedule, Schedule, ScheduleKind};

/// How many parsed cron patterns a process keeps.
pub const CACHED_PATTERNS: usize = 2048;

/// Parsed cron patterns by text. Process-wide: a parsed pattern does not depend on the job,
/// its time zone or the agent, so agents in one test process may share them too.
static PARSED: LazyLock<Mutex<LruCache<Box<str>, Arc<Schedule>>>> =
    LazyLock::new(|| Mutex::new(LruCache::new(CACHED_PATTERNS)));

struct Held {
    text: Box<str>,
    form: Form,
}

enum Form {
    /// `@every`, `@delay`, `@at`: a few bytes, kept parsed.
    Ready(Arc<Schedule>),
    /// A cron pattern (the text, trimmed), parsed on use.
    Cron(Box<str>),
}

/// A schedule as accepted by [`Schedule::parse`], with the text it was parsed from.
#[derive(Clone)]
pub struct SharedSchedule(Arc<Held>);

/// The text only: a parsed cron pattern would print its 5,000 year bytes.
impl std::fmt::Debug for SharedSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedSchedule").field(&self.text()).finish()
    }
}

impl SharedSchedule {
    /// Parses and validates `raw`. Time zones do not change what a pattern means, only when
    /// it fires, so there is none here.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let form = match parse_uncached(raw)? {
            Schedule::Cron(cron) => {
                let text: Box<str> = raw.trim().into();
                cache().insert(text.clone(), Arc::new(Schedule::Cron(cron)));
                Form::Cron(text)
            }
            ready => Form::Ready(Arc::new(ready)),
        };
        Ok(Self(Arc::new(Held {
            text: raw.into(),
            form,
        })))
    }

    /// This schedule for a job created at `anchor` ([`Schedule::anchored`]).
    pub fn anchored(self, anchor: DateTime<Utc>) -> Self {
        match &self.0.form {
            Form::Ready(schedule) if matches!(**schedule, Schedule::Every(_)) => {
                Self(Arc::new(Held {
                    text: self.0.text.clone(),
                    form: Form::Ready(Arc::new((**schedule).clone().anchored(anchor))),
                }))
            }
            _ => self,
        }
    }

    /// The text exactly as pushed.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// The parsed schedule: for a cron pattern from the cache, parsed again if it fell out.
    pub fn get(&self) -> Arc<Schedule> {
        match &self.0.form {
            Form::Ready(schedule) => schedule.clone(),
            Form::Cron(text) => parsed_cron(text),
        }
    }

    pub fn kind(&self) -> ScheduleKind {
        match &self.0.form {
            Form::Ready(schedule) => schedule.kind(),
            Form::Cron(_) => ScheduleKind::Cron,
        }
    }

    /// [`Schedule::next_after`].
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.get().next_after(tz, after)
    }
}

/// The same text parses to the same schedule.
impl PartialEq for SharedSchedule {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.text == other.0.text
    }
}

fn cache() -> std::sync::MutexGuard<'static, LruCache<Box<str>, Arc<Schedule>>> {
    PARSED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The parsed form of a cron pattern that [`SharedSchedule::parse`] accepted.
fn parsed_cron(text: &str) -> Arc<Schedule> {
    if let Some(parsed) = cache().get(text) {
        return parsed.clone();
    }
    // Parsed outside the lock: other jobs' fires need not wait for it.
    let parsed = match CronSchedule::parse(text) {
        Ok(cron) => Arc::new(Schedule::Cron(Box::new(cron))),
        // Unreachable: parsing is a pure function of the text, and this text parsed when the
        // job arrived. Were it ever reached, the job would not fire rather than bring the
        // process down.
        Err(e) => {
            tracing::error!(pattern = text, error = %e, "a cron pattern accepted earlier no longer parses");
            Arc::new(Schedule::At(DateTime::<Utc>::MIN_UTC))
        }
    };
    cache().insert(text.into(), parsed.clone());
    parsed
}

/// [`Schedule::parse`], except that a valid cron pattern with no fire left (its last year
/// passed) is accepted: the scheduler accepted it while it still fired, and refusing it now
/// would refuse the whole sync it arrives in. The job is held and never fires, like an `@at`
/// in the past.
fn parse_uncached(raw: &str) -> Result<Schedule, String> {
    // UTC: whether a pattern fires at all does not depend on the zone, and UTC has no
    // transitions to probe for.
    Schedule::parse(raw, Tz::UTC, Utc::now()).or_else(|refused| {
        CronSchedule::parse(raw.trim())
            .map(|cron| Schedule::Cron(Box::new(cron)))
            .map_err(|_| refused)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_the_same_schedule() {
        let a = SharedSchedule::parse("7 */2 * * *").unwrap();
        let b = SharedSchedule::parse("7 */2 * * *").unwrap();
        assert_eq!(a, b);
        assert!(
            Arc::ptr_eq(&a.get(), &b.get()),
            "one parsed pattern for both"
        );
        assert_eq!(a.text(), "7 */2 * * *");
        let other = SharedSchedule::parse("8 */2 * * *").unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn a_pattern_pushed_out_of_the_cache_is_parsed_again() {
        let held = SharedSchedule::parse(" 0 0 3 1 1 * 2099 ").unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z").unwrap();
        let expected = held.next_after(Tz::UTC, at.into());
        // Other jobs' patterns push it out (tests in this process share the cache, so
        // parse more than it holds).
        let others: Vec<_> = (0..CACHED_PATTERNS + 10)
            .map(|i| {
                SharedSchedule::parse(&format!("{} {} {} * * *", i % 60, i / 60 % 60, i / 3600))
            })
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(cache().get(" 0 0 3 1 1 * 2099 ".trim()).is_none());
        assert_eq!(held.kind(), ScheduleKind::Cron);
        assert_eq!(held.next_after(Tz::UTC, at.into()), expected);
        assert!(expected.is_some());
        assert_eq!(others.len(), CACHED_PATTERNS + 10);
        assert!(cache().len() <= CACHED_PATTERNS);
    }

    #[test]
    fn a_pattern_whose_last_fire_passed_is_held_but_garbage_is_refused() {
        let past = SharedSchedule::parse("0 0 12 1 1 * 2020").unwrap();
        assert_eq!(past.next_after(Tz::UTC, Utc::now()), None);
        let err = SharedSchedule::parse("61 * * * *").unwrap_err();
        assert!(err.contains("invalid cron"), "{err}");
        let err = SharedSchedule::parse("@every 500ms").unwrap_err();
        assert!(err.contains("whole seconds"), "{err}");
        assert!(SharedSchedule::parse("").is_err());
        let every = SharedSchedule::parse("@every 5s").unwrap();
        assert_eq!(every.kind(), ScheduleKind::Every);
    }
}
