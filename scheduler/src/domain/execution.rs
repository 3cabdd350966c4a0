//! Executions (design §4 execution states, §8): statuses, triggers, and one agent report
//! checked and capped at the edge, so what reaches MySQL always fits its columns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AgentId, ExecutionId, JobId};

/// Output kept per execution; longer output keeps its head and tail (design §4).
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Error text kept per execution (the column is TEXT: 64 KiB of bytes).
pub const MAX_ERROR: usize = 8 * 1024;
/// Error text kept per attempt.
pub const MAX_ATTEMPT_ERROR: usize = 2 * 1024;
/// Attempts kept per execution; retries are capped far below this by the job model.
pub const MAX_ATTEMPTS: usize = 200;
/// Ids are chosen by agents (UUIDv7, ULID, UUIDv5 for missed instants).
pub const MAX_ID: usize = 40;
pub const MAX_AGENT_ID: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Killed,
    Lost,
    Skipped,
    Missed,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Scheduled,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Killed,
        Status::Lost,
        Status::Skipped,
        Status::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Killed => "killed",
            Status::Lost => "lost",
            Status::Skipped => "skipped",
            Status::Missed => "missed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether nothing more is expected to happen to the execution.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Scheduled | Status::Running)
    }

    /// The status an agent reported; `None` for 0 or a value this scheduler does not know.
    pub fn from_proto(value: i32) -> Option<Self> {
        Self::parse(
            crony_proto::v1::ExecutionStatus::try_from(value)
                .ok()?
                .api_name(),
        )
    }
}

/// Why an execution exists (`trigger_kind` in MySQL: `trigger` is a reserved word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
    Retry,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Trigger::Schedule, Trigger::Manual, Trigger::Retry]
            .into_iter()
            .find(|t| t.as_str() == raw)
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        use crony_proto::v1::TriggerKind as P;
        match P::try_from(value).ok()? {
            P::Unspecified => None,
            P::Schedule => Some(Trigger::Schedule),
            P::Manual => Some(Trigger::Manual),
            P::Retry => Some(Trigger::Retry),
        }
    }
}

/// One attempt as kept in the `attempts` JSON column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub number: u32,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub status: Option<Status>,
    pub exit_code: Option<i32>,
    pub http_status: Option<u32>,
    pub error: String,
}

/// One agent report, checked and capped: ready to be written as a row.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub job_id: JobId,
    pub agent_id: AgentId,
    pub epoch: u64,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: Status,
    pub trigger: Trigger,
    /// JSON array of [`Attempt`].
    pub attempts: String,
    pub attempt_count: u32,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    pub output: String,
    pub output_truncated: bool,
    pub error: String,
    pub async_deadline: Option<DateTime<Utc>>,
    pub retry_of: Option<ExecutionId>,
    pub revision: u32,
    /// The agent's `crony.fire` span (W3C `traceparent`), checked; `None` when not traced.
    pub traceparent: Option<String>,
}

impl ExecutionRecord {
    /// A scheduled run that takes the place of a placeholder of the same instant.
    pub fn is_real_scheduled_run(&self) -> bool {
        self.trigger == Trigger::Schedule && !self.is_placeholder()
    }

    /// A record of an instant that was not run here: `missed`, or the `lost` record of an
    /// instant a previous owner may have started (under its derived id).
    pub fn is_placeholder(&self) -> bool {
        is_placeholder(&self.id, &self.job_id, self.scheduled_at, self.status)
    }

    /// Rough size on the wire to MySQL, to keep multi-row statements under the packet limit.
    pub fn approx_bytes(&self) -> usize {
        400 + self.output.len() + self.error.len() + self.attempts.len()
    }
}

/// Whether a row stands for an instant no agent is known to have run, which a real run of the
/// same instant replaces (docs/executions.md).
pub fn is_placeholder(id: &ExecutionId, job: &JobId, at: DateTime<Utc>, status: Status) -> bool {
    match status {
        Status::Missed => true,
        Status::Lost => id.as_str() == crony_common::unrun::unknown_id(job.as_str(), at),
        _ => false,
    }
}

/// Ids agents choose: 1 to 40 of `[A-Za-z0-9._:-]` (UUIDs and ULIDs fit), so they are safe in
/// URLs and cursors.
pub fn valid_id(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Keeps at most `max` bytes of `s`: its head and tail around a marker, because the start of
/// an output says what ran and the end says how it failed. Returns whether it cut anything.
pub fn cap_output(s: &str, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s.to_owned(), false);
    }
    const MARKER: &str = "\n…[output truncated]…\n";
    let keep = max.saturating_sub(MARKER.len());
    let head = cut(s, keep / 2);
    let mut start = s.len() - (keep - head.len());
    while !s.is_char_boundary(start) {
        start += 1;
    }
    (format!("{head}{MARKER}{}", &s[start..]), true)
}

/// Milliseconds since the epoch as an instant MySQL's DATETIME can hold (years 1000–9999).
pub fn instant_ms(ms: i64) -> Option<DateTime<Utc>> {
    const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    (0..=MAX_MS)
        .contains(&ms)
        .then(|| DateTime::from_timestamp_millis(ms))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_know_what_is_final() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert!(!Status::Running.is_final());
        assert!(Status::Missed.is_final());
        assert_eq!(Status::from_proto(0), None);
        assert_eq!(Status::from_proto(3), Some(Status::Succeeded));
        assert_eq!(Trigger::from_proto(0), None);
    }

    #[test]
    fn output_keeps_head_and_tail_within_the_cap() {
        let long = format!("{}{}", "a".repeat(100), "é".repeat(100));
        let (capped, cut) = cap_output(&long, 120);
        assert!(cut);
        assert!(capped.len() <= 120, "{}", capped.len());
        assert!(capped.starts_with("aaa") && capped.ends_with('é'));
        assert_eq!(cap_output("short", 120), ("short".into(), false));
    }

    #[test]
    fn ids_are_url_safe_and_bounded() {
        assert!(valid_id("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", MAX_ID));
        assert!(valid_id("01J9ZX8Q4T3W5Y7Z9A1B3C5D7E", MAX_ID));
        assert!(!valid_id("", MAX_ID));
        assert!(!valid_id("a/b", MAX_ID));
        assert!(!valid_id(&"a".repeat(41), MAX_ID));
        assert!(instant_ms(-1).is_none());
        assert!(instant_ms(1_700_000_000_000).is_some());
    }
}
