//! The spans of an execution on this agent (issue 19): `crony.fire` for the whole run — a
//! child of the scheduler's `crony.push` for a trigger, a trace of its own for a scheduled
//! fire — and one `crony.attempt` per attempt, whose `traceparent` goes to the target.
//! With tracing off each of these is one branch.

use crony_common::traces::{ExecSpan, SpanKind};
use crony_proto::v1::{ExecutionReport, ExecutionStatus, TriggerKind};

use super::{Fire, Runner};
use crate::executor::{AttemptOutcome, AttemptStatus};

impl Runner {
    pub(super) fn fire_span(&self, fire: &Fire, id: &str) -> ExecSpan {
        if !self.tracer.is_on() {
            return ExecSpan::none();
        }
        let mut span = self
            .tracer
            .start("crony.fire", SpanKind::Internal, fire.parent.as_ref());
        span.set("crony.execution_id", id.to_owned());
        span.set("crony.job_id", fire.job.id.to_string());
        span.set("crony.job_name", fire.job.name.clone());
        span.set("crony.agent_id", self.agent_id.clone());
        let trigger = match fire.kind {
            TriggerKind::Manual => "manual",
            TriggerKind::Retry => "retry",
            _ => "schedule",
        };
        span.set("crony.trigger", trigger);
        span.set("crony.scheduled_at", fire.scheduled_at.to_rfc3339());
        if !fire.retry_of.is_empty() {
            span.set("crony.retry_of", fire.retry_of.clone());
        }
        span
    }

    pub(super) fn attempt_span(
        &self,
        fire: &ExecSpan,
        number: u32,
        kind: &'static str,
    ) -> ExecSpan {
        if !self.tracer.is_on() {
            return ExecSpan::none();
        }
        let mut span = self
            .tracer
            .start("crony.attempt", SpanKind::Client, fire.parent().as_ref());
        span.set("crony.attempt", i64::from(number));
        span.set("crony.target", kind);
        span
    }
}

/// Ends an attempt's span with what the attempt came to.
pub(super) fn end_attempt(mut span: ExecSpan, outcome: &AttemptOutcome) {
    span.set("crony.status", attempt_status(outcome.status));
    if let Some(code) = outcome.http_status {
        span.set("http.response.status_code", i64::from(code));
    }
    if let Some(code) = outcome.exit_code {
        span.set("process.exit.code", i64::from(code));
    }
    match outcome.status {
        AttemptStatus::Succeeded | AttemptStatus::Accepted => span.ok(),
        _ => span.fail(outcome.error.clone()),
    }
}

/// Ends the fire's span with the execution's outcome so far (an async run's ends at the
/// hand-off; the scheduler's `crony.result` span continues the trace).
pub(super) fn end_fire(mut span: ExecSpan, report: &ExecutionReport) {
    let status = ExecutionStatus::try_from(report.status).unwrap_or(ExecutionStatus::Failed);
    span.set("crony.status", status.api_name());
    span.set("crony.attempts", report.attempts.len() as i64);
    match status {
        ExecutionStatus::Succeeded | ExecutionStatus::Running => span.ok(),
        _ => span.fail(report.error.clone()),
    }
}

fn attempt_status(status: AttemptStatus) -> &'static str {
    match status {
        AttemptStatus::Succeeded => "succeeded",
        AttemptStatus::Failed => "failed",
        AttemptStatus::Accepted => "accepted",
        AttemptStatus::TimedOut => "timed_out",
        AttemptStatus::Killed => "killed",
    }
}
