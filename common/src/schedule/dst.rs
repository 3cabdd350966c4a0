//! Where a time zone's UTC offset changes. chrono-tz keeps its transition table private, so
//! transitions are found by probing the offset at steps and bisecting to the second.
//!
//! Everything here counts in whole Unix seconds: tzdb transitions fall on whole seconds, and
//! plain integers keep the hot path (one or two lookups per fire) cheap.

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// How far apart offset probes are. Two transitions closer than this (an offset that changes
/// and changes back within six hours) would be missed; tzdb's real ones are weeks apart. A
/// smaller step only costs more lookups for schedules whose fires are far apart.
const PROBE_STEP: i64 = 6 * 3600;

/// chrono-tz's tables run to the end of 2099 and every zone keeps its last offset after that,
/// so probing stops here (2101-01-01T00:00:00Z) instead of walking to year 5000 for patterns
/// like `0 0 0 1 1 * 4000`.
const TABLE_END: i64 = 4_133_980_800;

/// The longest fall-back looked for behind a start instant. Real ones are 30 min to 2 h; a
/// day also covers the odd historical date-line move.
const MAX_FOLD: i64 = 24 * 3600;

/// A change of UTC offset: from `at` on (inclusive), local time is UTC + `after` seconds;
/// just before it, UTC + `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Transition {
    pub at: i64,
    pub before: i32,
    pub after: i32,
}

impl Transition {
    /// Spring-forward: the wall times `[at + before, at + after)` never occur.
    pub fn is_gap(&self) -> bool {
        self.after > self.before
    }

    /// Fall-back: the wall times `[at + after, at + before)` occur twice, the second pass
    /// during the instants `[at, fold_end)`.
    pub fn fold_end(&self) -> i64 {
        self.at + i64::from(self.before - self.after)
    }
}

/// The UTC offset of `tz` at the instant `secs`, in seconds east of UTC.
pub(super) fn offset_at(tz: Tz, secs: i64) -> i32 {
    // Instants outside chrono's range cannot come from croner (it stops at year 5000); clamp
    // rather than fail so callers need no error path for the impossible.
    let instant = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    tz.offset_from_utc_datetime(&instant.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The first transition in `(from, to]`; `offset` must be the offset at `from`.
pub(super) fn first_transition(tz: Tz, from: i64, to: i64, offset: i32) -> Option<Transition> {
    let end = to.min(TABLE_END);
    let mut lo = from;
    while lo < end {
        let hi = lo.saturating_add(PROBE_STEP).min(end);
        if offset_at(tz, hi) != offset {
            return Some(bisect(tz, lo, hi, offset));
        }
        lo = hi;
    }
    None
}

/// Narrows `(lo, hi]`, where the offset is `offset` at `lo` and differs at `hi`, to the
/// second the offset changes.
fn bisect(tz: Tz, mut lo: i64, mut hi: i64, offset: i32) -> Transition {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at(tz, mid) == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Transition {
        at: hi,
        before: offset,
        after: offset_at(tz, hi),
    }
}

/// The fall-back whose second pass contains the instant `at`, if any: a fixed schedule must
/// not fire again for wall times it already passed once.
pub(super) fn fold_containing(tz: Tz, at: i64) -> Option<Transition> {
    let mut from = at - MAX_FOLD;
    let mut offset = offset_at(tz, from);
    let mut last = None;
    while let Some(t) = first_transition(tz, from, at, offset) {
        last = Some(t);
        from = t.at;
        offset = t.after;
    }
    last.filter(|t| !t.is_gap() && at < t.fold_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp()
    }

    #[test]
    fn finds_berlin_transitions_to_the_second() {
        let tz = chrono_tz::Europe::Berlin;
        let from = ts(2026, 3, 1, 0, 0);
        let spring = first_transition(tz, from, ts(2026, 12, 31, 0, 0), 3600).unwrap();
        assert_eq!(
            spring,
            Transition {
                at: ts(2026, 3, 29, 1, 0),
                before: 3600,
                after: 7200
            }
        );
        assert!(spring.is_gap());
        let fall = first_transition(tz, spring.at, ts(2026, 12, 31, 0, 0), 7200).unwrap();
        assert_eq!(fall.at, ts(2026, 10, 25, 1, 0));
        assert_eq!(fall.fold_end(), ts(2026, 10, 25, 2, 0));
        assert_eq!(
            first_transition(tz, fall.at, ts(2026, 12, 31, 0, 0), 3600),
            None
        );
    }

    #[test]
    fn lord_howe_shifts_by_half_an_hour() {
        let tz = chrono_tz::Australia::Lord_Howe;
        let fall = first_transition(tz, ts(2026, 4, 4, 0, 0), ts(2026, 4, 5, 0, 0), 39600);
        assert_eq!(
            fall,
            Some(Transition {
                at: ts(2026, 4, 4, 15, 0),
                before: 39600,
                after: 37800
            })
        );
    }

    #[test]
    fn second_pass_of_a_fold_is_recognised() {
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(fold_containing(tz, ts(2026, 10, 25, 0, 59)), None);
        assert!(fold_containing(tz, ts(2026, 10, 25, 1, 0)).is_some());
        assert!(fold_containing(tz, ts(2026, 10, 25, 1, 59)).is_some());
        assert_eq!(fold_containing(tz, ts(2026, 10, 25, 2, 0)), None);
        assert_eq!(fold_containing(tz, ts(2026, 3, 29, 1, 30)), None);
    }
}
