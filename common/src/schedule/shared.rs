//! A parsed schedule shared by every job with the same schedule text (the agent's held jobs,
//! the leader's next-fires view).
//!
//! Sharing is what keeps agents and the leader small: croner keeps a bit per possible year (1 to 5000) in
//! every parsed pattern, so one cron schedule costs about 5.8 KB, and 25,000 jobs parsed one
//! by one would take ~140 MiB for their schedules alone (the leader's 100,000, ~560 MiB). Jobs typically share a few hundred
//! patterns (`0 * * * *`, `*/5 * * * *`, `{m} */2 * * *`), so each pattern is parsed once and
//! held by the jobs that use it; a pattern no job holds any more is dropped.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::{CronSchedule, Schedule};
use chrono::Utc;
use chrono_tz::Tz;

/// The parsed patterns in use, by text. Process-wide: a parsed pattern does not depend on the
/// job, its time zone or the agent, so agents in one test process may share them too.
static PARSED: LazyLock<Mutex<Interned>> = LazyLock::new(Mutex::default);

/// Below this many entries dead ones are not worth sweeping.
const MIN_SWEEP: usize = 64;

#[derive(Default)]
struct Interned {
    by_text: HashMap<Box<str>, Weak<Parsed>>,
    /// Sweep dead entries when the map grows to this size (twice the live ones at the last
    /// sweep), so lookups stay cheap and sweeping costs O(1) per insert on average.
    sweep_at: usize,
}

struct Parsed {
    text: Box<str>,
    schedule: Schedule,
}

/// A schedule as accepted by [`Schedule::parse`], with the text it was parsed from.
#[derive(Clone)]
pub struct SharedSchedule(Arc<Parsed>);

/// The text only: a parsed cron pattern would print its 5,000 year bits.
impl std::fmt::Debug for SharedSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedSchedule").field(&self.text()).finish()
    }
}

impl SharedSchedule {
    /// Parses `raw` (or finds it parsed already). Time zones do not change what a pattern
    /// means, only when it fires, so there is none here.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut interned = PARSED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parsed) = interned.by_text.get(raw).and_then(Weak::upgrade) {
            return Ok(Self(parsed));
        }
        let parsed = Arc::new(Parsed {
            text: raw.into(),
            schedule: parse_uncached(raw)?,
        });
        if interned.by_text.len() >= interned.sweep_at {
            interned.by_text.retain(|_, p| p.strong_count() > 0);
            interned.sweep_at = (interned.by_text.len() * 2).max(MIN_SWEEP);
        }
        interned.by_text.insert(raw.into(), Arc::downgrade(&parsed));
        Ok(Self(parsed))
    }

    /// The text exactly as pushed.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    pub fn get(&self) -> &Schedule {
        &self.0.schedule
    }
}

/// The same text parses to the same schedule.
impl PartialEq for SharedSchedule {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.text == other.0.text
    }
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
    fn the_same_text_is_parsed_once_and_shared() {
        let a = SharedSchedule::parse("7 */2 * * *").unwrap();
        let b = SharedSchedule::parse("7 */2 * * *").unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a.text(), "7 */2 * * *");
        let other = SharedSchedule::parse("8 */2 * * *").unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn a_pattern_nobody_holds_is_parsed_again() {
        let text = "0 0 3 1 1 * 2099";
        let first = Arc::downgrade(&SharedSchedule::parse(text).unwrap().0);
        assert!(first.upgrade().is_none(), "dropped with its last job");
        let again = SharedSchedule::parse(text).unwrap();
        assert!(again.get().is_cron());
    }

    #[test]
    fn a_pattern_whose_last_fire_passed_is_held_but_garbage_is_refused() {
        let past = SharedSchedule::parse("0 0 12 1 1 * 2020").unwrap();
        assert_eq!(past.get().next_after(Tz::UTC, Utc::now()), None);
        let err = SharedSchedule::parse("61 * * * *").unwrap_err();
        assert!(err.contains("invalid cron"), "{err}");
        let err = SharedSchedule::parse("@every 500ms").unwrap_err();
        assert!(err.contains("whole seconds"), "{err}");
        assert!(SharedSchedule::parse("").is_err());
    }
}
