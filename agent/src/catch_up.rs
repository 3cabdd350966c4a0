//! Which due instants of a job start and which are recorded missed: the pure part of the
//! clock's decisions, for a timer that woke late and for a job that just became this agent's.

use crate::job::Misfire;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use crony_common::schedule::Schedule;

/// At most this many due instants are gathered (and recorded one by one) per job and event:
/// the newest ones. Older ones are counted in one [`Summary`].
pub const MISSED_CAP: usize = 1000;

/// At most this many instants are stepped through per job and event to count the older ones;
/// past it the count is a lower bound and the scan jumps close to now.
pub const COUNT_CAP: u64 = 10 * MISSED_CAP as u64;

/// The instants of a schedule in a window, and the first one after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Window {
    /// Due instants strictly after the window's start, up to now, oldest first: the newest
    /// [`MISSED_CAP`] of them.
    pub due: Vec<DateTime<Utc>>,
    /// The first instant after `due` (later than now).
    pub next: Option<DateTime<Utc>>,
    /// The due instants older than `due`, when there were more than [`MISSED_CAP`].
    pub older: Option<Summary>,
}

/// Due instants too many to record one by one: one record stands for them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The oldest of them.
    pub first: DateTime<Utc>,
    /// None of them is later than this (and every instant of `due` is).
    pub through: DateTime<Utc>,
    /// How many; a lower bound unless `exact`.
    pub count: u64,
    pub exact: bool,
}

impl Summary {
    /// The text of the record that stands for them.
    pub fn describe(&self) -> String {
        let count = if self.exact {
            self.count.to_string()
        } else {
            format!("more than {}", self.count)
        };
        format!(
            "this record stands for {count} instants from {} through {} (more than {MISSED_CAP} \
             were due at once; only the newest {MISSED_CAP} are recorded one by one)",
            self.first.to_rfc3339(),
            self.through.to_rfc3339()
        )
    }
}

/// Every instant of `schedule` strictly after `start` and at most `now`: the newest
/// [`MISSED_CAP`] one by one, the older ones summarised. Steps through at most about
/// [`COUNT_CAP`] + 3 × [`MISSED_CAP`] instants however long the gap.
pub fn due_after(schedule: &Schedule, tz: Tz, start: DateTime<Utc>, now: DateTime<Utc>) -> Window {
    let mut due = std::collections::VecDeque::new();
    let mut older: Option<Summary> = None;
    let mut jumped = false;
    let mut cursor = schedule.next_after(tz, start);
    while let Some(at) = cursor.filter(|at| *at <= now) {
        if due.len() == MISSED_CAP {
            summarise(&mut older, due.pop_front().expect("full"));
        }
        due.push_back(at);
        cursor = schedule.next_after(tz, at);
        if !jumped && older.is_some_and(|o| o.count >= COUNT_CAP) {
            jumped = true;
            let resume = now - (at - due[0]) * 2;
            if resume > at {
                // Too many to count: everything so far goes into the summary, which also
                // stands for the uncounted instants up to `resume` (its count a lower bound);
                // the newest instants are gathered from there on.
                for out in due.drain(..) {
                    summarise(&mut older, out);
                }
                let summary = older.as_mut().expect("counted");
                summary.through = resume;
                summary.exact = false;
                cursor = schedule.next_after(tz, resume);
            }
        }
    }
    Window {
        due: due.into(),
        next: cursor,
        older,
    }
}

/// Adds `out`, an instant too old to be recorded one by one, to the summary.
fn summarise(older: &mut Option<Summary>, out: DateTime<Utc>) {
    let summary = older.get_or_insert(Summary {
        first: out,
        through: out,
        count: 0,
        exact: true,
    });
    summary.count += 1;
    summary.through = summary.through.max(out);
}

/// Where a newly armed job's catch-up window starts: after the newest of the instants that
/// were certainly handled already (by the old owner, by this agent) and the opening of the
/// misfire window; `None` (absent everywhere) means there is nothing to catch up.
pub fn window_start(
    resume_after: Option<DateTime<Utc>>,
    misfire_since: Option<DateTime<Utc>>,
    fired_through: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    [resume_after, misfire_since, fired_through]
        .into_iter()
        .flatten()
        .max()
}

/// Takes out of `due` (oldest first) the instants at or before `uncertain_through`: a previous
/// owner may have started them, so they are never started here. Returns them, oldest first.
pub fn take_uncertain(
    due: &mut Vec<DateTime<Utc>>,
    uncertain_through: Option<DateTime<Utc>>,
) -> Vec<DateTime<Utc>> {
    let Some(through) = uncertain_through else {
        return Vec::new();
    };
    let split = due.partition_point(|at| *at <= through);
    let rest = due.split_off(split);
    std::mem::replace(due, rest)
}

/// What to do with due instants.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Run these (oldest first).
    pub start: Vec<DateTime<Utc>>,
    /// Record these as missed.
    pub missed: Vec<DateTime<Utc>>,
}

/// Instants at most `grace` late start; older ones follow the misfire policy: `skip` records
/// them missed, `fire_once` runs the newest of them — unless a timelier instant runs anyway,
/// which already is the one catch-up run.
pub fn decide(
    due: &[DateTime<Utc>],
    now: DateTime<Utc>,
    grace: chrono::Duration,
    misfire: Misfire,
) -> Decision {
    let (mut missed, start): (Vec<_>, Vec<_>) = due.iter().partition(|at| now - **at > grace);
    let fire_once = match misfire {
        Misfire::FireOnce => true,
        Misfire::Skip => false,
    };
    if start.is_empty() && fire_once {
        let newest = missed.pop();
        return Decision {
            start: newest.into_iter().collect(),
            missed,
        };
    }
    Decision { start, missed }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: chrono::Duration = chrono::Duration::seconds(2);

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn every_second() -> Schedule {
        Schedule::parse("* * * * * *", Tz::UTC, Utc::now()).unwrap()
    }

    /// The old owner fired through :04; the move took until :05.300, so :05 is 300 ms late.
    #[test]
    fn an_instant_just_after_resume_after_starts_even_under_skip() {
        let now = at("2026-01-01T00:00:05.300Z");
        let start = window_start(Some(at("2026-01-01T00:00:04Z")), None, None);
        let window = due_after(&every_second(), Tz::UTC, start.unwrap(), now);
        assert_eq!(window.due, [at("2026-01-01T00:00:05Z")]);
        assert_eq!(window.next, Some(at("2026-01-01T00:00:06Z")));
        for policy in [Misfire::Skip, Misfire::FireOnce] {
            let decision = decide(&window.due, now, GRACE, policy);
            assert_eq!(decision.start, [at("2026-01-01T00:00:05Z")], "{policy:?}");
            assert!(decision.missed.is_empty());
        }
    }

    /// Resumed 10 s late: :56..:03 are more than 2 s late (misfire policy), :04 and :05 start.
    #[test]
    fn instants_older_than_the_grace_follow_the_misfire_policy() {
        let now = at("2026-01-01T00:00:05.300Z");
        let resume = at("2025-12-31T23:59:55.300Z");
        let start = window_start(Some(resume), None, None).unwrap();
        let window = due_after(&every_second(), Tz::UTC, start, now);
        assert_eq!(window.due.len(), 10);
        assert_eq!(window.due[0], at("2025-12-31T23:59:56Z"));
        let on_time = [at("2026-01-01T00:00:04Z"), at("2026-01-01T00:00:05Z")];
        for policy in [Misfire::Skip, Misfire::FireOnce] {
            let decision = decide(&window.due, now, GRACE, policy);
            assert_eq!(decision.start, on_time, "{policy:?}");
            assert_eq!(decision.missed, window.due[..8], "{policy:?}");
        }
    }

    #[test]
    fn only_late_instants_run_the_newest_under_fire_once() {
        let now = at("2026-01-01T00:01:00Z");
        let due = [at("2026-01-01T00:00:10Z"), at("2026-01-01T00:00:20Z")];
        let once = decide(&due, now, GRACE, Misfire::FireOnce);
        assert_eq!(once.start, [due[1]]);
        assert_eq!(once.missed, [due[0]]);
        let skip = decide(&due, now, GRACE, Misfire::Skip);
        assert!(skip.start.is_empty());
        assert_eq!(skip.missed, due);
    }

    #[test]
    fn the_window_starts_after_the_newest_handled_instant() {
        let local = at("2026-01-01T00:00:07Z");
        let some = |s| Some(at(s));
        assert_eq!(
            window_start(
                some("2026-01-01T00:00:04Z"),
                some("2026-01-01T00:00:02Z"),
                None
            ),
            some("2026-01-01T00:00:04Z")
        );
        assert_eq!(
            window_start(some("2026-01-01T00:00:04Z"), None, Some(local)),
            Some(local)
        );
        assert_eq!(window_start(None, None, None), None);
        // Nothing at or before the window's start is ever due.
        let window = due_after(
            &every_second(),
            Tz::UTC,
            local,
            at("2026-01-01T00:00:07.900Z"),
        );
        assert!(window.due.is_empty());
        assert_eq!(window.next, Some(at("2026-01-01T00:00:08Z")));
    }

    /// 3,000 every-second instants due: the newest 1,000 one by one, the 2,000 before them in
    /// one summary, and `fire_once` runs the newest of all (not the 1,000th oldest).
    #[test]
    fn more_than_the_cap_keeps_the_newest_and_summarises_the_older() {
        let now = at("2026-01-01T01:00:00Z");
        let start = now - chrono::Duration::seconds(3000);
        let window = due_after(&every_second(), Tz::UTC, start, now);
        assert_eq!(window.due.len(), MISSED_CAP);
        assert_eq!(window.due.last(), Some(&now));
        assert_eq!(window.next, Some(now + chrono::Duration::seconds(1)));
        let older = window.older.expect("a summary");
        assert_eq!(
            (older.first, older.count, older.exact),
            (start + chrono::Duration::seconds(1), 2000, true)
        );
        assert_eq!(older.through, window.due[0] - chrono::Duration::seconds(1));
        assert!(older.describe().contains("2000 instants from"));
        let decision = decide(&window.due, now, chrono::Duration::MIN, Misfire::FireOnce);
        assert_eq!(decision.start, [now]);
        assert_eq!(decision.missed.len(), MISSED_CAP - 1);
    }

    /// A day of every-second instants: counting stops after about COUNT_CAP (a lower bound),
    /// and the newest 1,000 still end at now, contiguous.
    #[test]
    fn a_gap_too_long_to_count_is_a_lower_bound_and_still_ends_at_now() {
        let now = at("2026-01-02T00:00:00Z");
        let start = now - chrono::Duration::days(1);
        let window = due_after(&every_second(), Tz::UTC, start, now);
        assert_eq!(window.due.len(), MISSED_CAP);
        assert_eq!(window.due.last(), Some(&now));
        assert_eq!(
            window.due[0],
            now - chrono::Duration::seconds(MISSED_CAP as i64 - 1)
        );
        let older = window.older.expect("a summary");
        assert!(!older.exact);
        assert!(
            older.count >= COUNT_CAP && older.count < 86_400,
            "{older:?}"
        );
        assert_eq!(older.first, start + chrono::Duration::seconds(1));
        assert!(older.through < window.due[0], "{older:?}");
        assert!(older.describe().contains("more than"));
    }

    #[test]
    fn at_most_the_cap_has_no_summary() {
        let now = at("2026-01-01T01:00:00Z");
        let start = now - chrono::Duration::seconds(MISSED_CAP as i64);
        let window = due_after(&every_second(), Tz::UTC, start, now);
        assert_eq!((window.due.len(), window.older), (MISSED_CAP, None));
    }

    #[test]
    fn instants_up_to_uncertain_through_are_taken_out() {
        let due: Vec<_> = (1..=5)
            .map(|s| at(&format!("2026-01-01T00:00:0{s}Z")))
            .collect();
        let mut rest = due.clone();
        assert!(take_uncertain(&mut rest, None).is_empty());
        assert_eq!(rest, due);
        let taken = take_uncertain(&mut rest, Some(at("2026-01-01T00:00:03Z")));
        assert_eq!(taken, due[..3]);
        assert_eq!(rest, due[3..]);
        let taken = take_uncertain(&mut rest, Some(at("2026-01-01T00:00:09Z")));
        assert_eq!((taken.len(), rest.len()), (2, 0));
    }
}
