//! `JobSpec` → [`Job`] at the gRPC edge (and on loading the held-jobs file), and back for that
//! file. Every field the agent uses is checked here; a spec that does not convert is refused
//! naming the field, never run with a guess. No I/O: the tests below need no server.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use crony_proto::v1 as pb;

use super::{Job, JobId, JobSchedule, Misfire, Overlap, Target};
use crate::retry::{Backoff, RetryPolicy};

/// A field of a pushed job the agent cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job:?}: {field} {reason}")]
pub struct JobError {
    /// The job's id as pushed (empty when the id itself is missing).
    pub job: String,
    /// The proto field, as a path (`target.http.url`).
    pub field: &'static str,
    pub reason: String,
}

impl JobError {
    /// An error of `field`; the job is named by [`TryFrom`].
    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            job: String::new(),
            field,
            reason: reason.into(),
        }
    }
}

impl TryFrom<&pb::JobSpec> for Job {
    type Error = JobError;

    fn try_from(spec: &pb::JobSpec) -> Result<Self, JobError> {
        convert(spec).map_err(|e| JobError {
            job: spec.id.clone(),
            ..e
        })
    }
}

fn convert(spec: &pb::JobSpec) -> Result<Job, JobError> {
    let id = JobId::new(&spec.id).ok_or_else(|| JobError::field("id", "is empty"))?;
    let tz: Tz = spec.timezone.parse().map_err(|_| {
        JobError::field(
            "timezone",
            format!("{:?} is not an IANA time zone", spec.timezone),
        )
    })?;
    let schedule = JobSchedule::parse(&spec.schedule).map_err(|e| {
        JobError::field(
            "schedule",
            format!("{:?} is not usable: {e}", spec.schedule),
        )
    })?;
    let every_anchor = instant("every_anchor_ms", spec.every_anchor_ms)?;
    let schedule = match every_anchor {
        Some(anchor) => schedule.anchored(anchor),
        None => schedule,
    };
    let target = spec
        .target
        .as_ref()
        .ok_or_else(|| JobError::field("target", "is missing"))
        .and_then(Target::try_from)?;
    let retry = spec
        .retry
        .as_ref()
        .ok_or_else(|| JobError::field("retry", "is missing"))
        .and_then(retry_policy)?;
    let overlap = match pb::Overlap::try_from(spec.overlap) {
        Ok(pb::Overlap::Skip) => Overlap::Skip,
        Ok(pb::Overlap::Allow) => Overlap::Allow,
        Ok(pb::Overlap::Replace) => Overlap::Replace,
        Ok(pb::Overlap::Unspecified) | Err(_) => {
            return Err(unknown("overlap", spec.overlap, "SKIP, ALLOW or REPLACE"));
        }
    };
    let misfire = match pb::Misfire::try_from(spec.misfire) {
        Ok(pb::Misfire::Skip) => Misfire::Skip,
        Ok(pb::Misfire::FireOnce) => Misfire::FireOnce,
        Ok(pb::Misfire::Unspecified) | Err(_) => {
            return Err(unknown("misfire", spec.misfire, "SKIP or FIRE_ONCE"));
        }
    };
    Ok(Job {
        id,
        name: spec.name.clone(),
        schedule,
        tz,
        enabled: spec.enabled,
        target,
        payload: spec.payload.clone(),
        timeout: seconds("timeout_secs", spec.timeout_secs)?,
        retry,
        overlap,
        misfire,
        async_timeout: seconds("async_timeout_secs", spec.async_timeout_secs)?,
        assignment_epoch: spec.assignment_epoch,
        updated_at_ms: spec.updated_at_ms,
        misfire_since: instant("misfire_since_ms", spec.misfire_since_ms)?,
        resume_after: instant("resume_after_ms", spec.resume_after_ms)?,
        uncertain_through: instant("uncertain_through_ms", spec.uncertain_through_ms)?,
        every_anchor,
        busy_until: instant("busy_until_ms", spec.busy_until_ms)?,
    })
}

fn retry_policy(retry: &pb::RetryPolicy) -> Result<RetryPolicy, JobError> {
    let backoff = match pb::Backoff::try_from(retry.backoff) {
        Ok(pb::Backoff::Fixed) => Backoff::Fixed,
        Ok(pb::Backoff::Exponential) => Backoff::Exponential,
        Ok(pb::Backoff::Unspecified) | Err(_) => {
            return Err(unknown(
                "retry.backoff",
                retry.backoff,
                "FIXED or EXPONENTIAL",
            ));
        }
    };
    Ok(RetryPolicy {
        max_retries: retry.max_retries,
        backoff,
        initial: Duration::from_secs(u64::from(retry.initial_secs)),
        // 0 is "no cap" in the proto.
        cap: (retry.max_secs != 0).then(|| Duration::from_secs(u64::from(retry.max_secs))),
    })
}

/// An enum left unset or set to a value this agent does not know (a newer scheduler's).
fn unknown(field: &'static str, value: i32, expected: &str) -> JobError {
    JobError::field(field, format!("is {value}, expected {expected}"))
}

/// A timeout: 0 would make every attempt time out at once (or, for the async wait, never
/// end), so it is refused rather than replaced by a default.
fn seconds(field: &'static str, secs: u32) -> Result<Duration, JobError> {
    match secs {
        0 => Err(JobError::field(field, "is 0, expected at least 1")),
        secs => Ok(Duration::from_secs(u64::from(secs))),
    }
}

/// Unix milliseconds where 0 means "none".
fn instant(field: &'static str, ms: i64) -> Result<Option<DateTime<Utc>>, JobError> {
    match ms {
        0 => Ok(None),
        ms if ms < 0 => Err(JobError::field(field, format!("is {ms}, before 1970"))),
        ms => DateTime::from_timestamp_millis(ms)
            .map(Some)
            .ok_or_else(|| JobError::field(field, format!("{ms} is out of range"))),
    }
}

/// Back to the proto, for the held-jobs file. Converting the result gives an equal job.
impl From<&Job> for pb::JobSpec {
    fn from(job: &Job) -> Self {
        let backoff = match job.retry.backoff {
            Backoff::Fixed => pb::Backoff::Fixed,
            Backoff::Exponential => pb::Backoff::Exponential,
        };
        pb::JobSpec {
            id: job.id.as_str().to_owned(),
            name: job.name.clone(),
            schedule: job.schedule.text().to_owned(),
            timezone: job.tz.name().to_owned(),
            enabled: job.enabled,
            target: Some(pb::Target::from(&job.target)),
            payload: job.payload.clone(),
            timeout_secs: whole_secs(job.timeout),
            retry: Some(pb::RetryPolicy {
                max_retries: job.retry.max_retries,
                backoff: backoff as i32,
                initial_secs: whole_secs(job.retry.initial),
                max_secs: job.retry.cap.map_or(0, whole_secs),
            }),
            overlap: match job.overlap {
                Overlap::Skip => pb::Overlap::Skip,
                Overlap::Allow => pb::Overlap::Allow,
                Overlap::Replace => pb::Overlap::Replace,
            } as i32,
            misfire: match job.misfire {
                Misfire::Skip => pb::Misfire::Skip,
                Misfire::FireOnce => pb::Misfire::FireOnce,
            } as i32,
            async_timeout_secs: whole_secs(job.async_timeout),
            assignment_epoch: job.assignment_epoch,
            updated_at_ms: job.updated_at_ms,
            misfire_since_ms: job.misfire_since.map_or(0, |at| at.timestamp_millis()),
            resume_after_ms: job.resume_after.map_or(0, |at| at.timestamp_millis()),
            uncertain_through_ms: job.uncertain_through.map_or(0, |at| at.timestamp_millis()),
            every_anchor_ms: job.every_anchor.map_or(0, |at| at.timestamp_millis()),
            busy_until_ms: job.busy_until.map_or(0, |at| at.timestamp_millis()),
        }
    }
}

/// The durations here were made from whole `u32` seconds.
fn whole_secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "convert_test.rs"]
mod tests;
