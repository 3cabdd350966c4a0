//! The job as this agent holds it: converted once, at the gRPC edge, from the `JobSpec` the
//! scheduler pushed ([`convert`]), so the clock, the runner and the executors read typed values
//! and never re-interpret proto integers or strings. A spec that does not convert is refused;
//! nothing here falls back to a default.

mod convert;
#[cfg(test)]
pub(crate) mod fixture;
mod target;

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::retry::RetryPolicy;

pub use convert::JobError;
pub use crony_common::schedule::SharedSchedule as JobSchedule;
pub use target::{GrpcTarget, HttpTarget, ShellTarget, Target};

/// A job's id: never empty. Shared (`Arc<str>`), because the holdings, the clock's timer queue
/// and the runner all key by it, and 25,000 jobs should not mean 100,000 copies of their ids.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Arc<str>);

impl JobId {
    /// `None` for an empty id.
    pub(crate) fn new(raw: &str) -> Option<Self> {
        (!raw.is_empty()).then(|| Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by `JobId` be queried with the `&str` ids of requests.
impl Borrow<str> for JobId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// What happens to fires that were due while nobody ran them (design §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfire {
    /// Recorded as missed, none run.
    Skip,
    /// The newest runs now, the others are recorded as missed.
    FireOnce,
}

/// What a fire does when the job's previous run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Recorded as skipped.
    Skip,
    /// Runs alongside.
    Allow,
    /// Kills the running one and starts.
    Replace,
}

/// One held job. Built only by [`Job::try_from`] on a `JobSpec`, so every value is valid.
///
/// Equality is the definition as pushed (the schedule by its text): a resync that pushes an
/// equal job keeps the held one, and the duplicate is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub(crate) id: JobId,
    pub(crate) name: String,
    pub(crate) schedule: JobSchedule,
    pub(crate) tz: Tz,
    pub(crate) enabled: bool,
    pub(crate) target: Target,
    pub(crate) payload: String,
    /// Per attempt; at least a second.
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) overlap: Overlap,
    pub(crate) misfire: Misfire,
    /// How long an accepted (async) run waits for its result; at least a second.
    pub(crate) async_timeout: Duration,
    /// Bumped by the scheduler on every (re)assignment; attached to every execution.
    pub(crate) assignment_epoch: u64,
    /// When the definition last changed (Unix ms): with the epoch, what tells the clock that a
    /// pushed job is the one it already runs.
    pub(crate) updated_at_ms: i64,
    /// Fires due after this and before the agent took the job were nobody's (`None`: new job).
    pub(crate) misfire_since: Option<DateTime<Utc>>,
    /// The newest instant the previous owner fired, when the job moved from a live agent.
    pub(crate) resume_after: Option<DateTime<Utc>>,
    /// Moved from an owner whose lease ended unconfirmed: it may have started any instant up
    /// to this one, so none of them is started here.
    pub(crate) uncertain_through: Option<DateTime<Utc>>,
    /// When the job was created: a fixed rate (`@every`) keeps its phase from there.
    pub(crate) every_anchor: Option<DateTime<Utc>>,
    /// Moved here from a live agent whose run of it may still be going until then: `overlap`
    /// counts that run as one of this agent's.
    pub(crate) busy_until: Option<DateTime<Utc>>,
}
