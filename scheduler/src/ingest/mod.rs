//! Ingestion of agents' execution reports (design §6 `ReportService`): the gRPC service
//! (`service.rs`) checks reports and queues them for one batched writer (`writer.rs`), which
//! commits them to MySQL before anything is acknowledged. Rules: `docs/executions.md`.

mod retained;
pub mod service;
pub mod writer;

use crony_common::traces::Parent;
use crony_proto::v1 as pb;

use crate::domain::execution::{
    Attempt, ExecutionRecord, MAX_AGENT_ID, MAX_ATTEMPT_ERROR, MAX_ATTEMPTS, MAX_ERROR, MAX_ID,
    MAX_OUTPUT, Status, Trigger, cap_output, cut, instant_ms, valid_id,
};
use crate::domain::ids::ExecutionId;

/// Largest `ReportBatch` accepted: a thousand reports with outputs at the cap fit.
pub const MAX_MESSAGE: usize = 128 * 1024 * 1024;

/// Checks one report and caps what could overflow a column; the reason when it is unusable.
pub fn record_from_proto(r: pb::ExecutionReport) -> Result<ExecutionRecord, String> {
    if !valid_id(&r.execution_id, MAX_ID) {
        return Err(format!(
            "execution_id {:?} is not a valid id",
            r.execution_id
        ));
    }
    if !valid_id(&r.job_id, MAX_ID) {
        return Err(format!("job_id {:?} is not a valid id", r.job_id));
    }
    if !valid_id(&r.agent_id, MAX_AGENT_ID) {
        return Err(format!("agent_id {:?} is not a valid id", r.agent_id));
    }
    let retry_of = match r.retry_of.as_str() {
        "" => None,
        id if valid_id(id, MAX_ID) => Some(ExecutionId::from(id)),
        id => return Err(format!("retry_of {id:?} is not a valid id")),
    };
    let status =
        Status::from_proto(r.status).ok_or_else(|| format!("unknown status {}", r.status))?;
    let trigger =
        Trigger::from_proto(r.trigger).ok_or_else(|| format!("unknown trigger {}", r.trigger))?;
    let scheduled_at = instant_ms(r.scheduled_at_ms)
        .ok_or_else(|| format!("scheduled_at_ms {} is out of range", r.scheduled_at_ms))?;
    // 0 means "not yet"; anything else must be a real instant.
    let optional = |field: &str, ms: i64| match ms {
        0 => Ok(None),
        ms => instant_ms(ms)
            .map(Some)
            .ok_or_else(|| format!("{field} {ms} is out of range")),
    };
    let attempts: Vec<Attempt> = r
        .attempts
        .iter()
        .rev()
        .take(MAX_ATTEMPTS)
        .rev()
        .map(|a| Attempt {
            number: a.number,
            started_at_ms: a.started_at_ms,
            finished_at_ms: a.finished_at_ms,
            status: Status::from_proto(a.status),
            exit_code: a.exit_code,
            http_status: a.http_status,
            error: cut(&a.error, MAX_ATTEMPT_ERROR).to_owned(),
        })
        .collect();
    let (output, cut_now) = cap_output(&r.output, MAX_OUTPUT);
    Ok(ExecutionRecord {
        started_at: optional("started_at_ms", r.started_at_ms)?,
        finished_at: optional("finished_at_ms", r.finished_at_ms)?,
        async_deadline: optional("async_deadline_ms", r.async_deadline_ms)?,
        // Checked above: from here on the ids are typed.
        id: r.execution_id.into(),
        job_id: r.job_id.into(),
        agent_id: r.agent_id.into(),
        epoch: r.epoch,
        scheduled_at,
        status,
        trigger,
        attempt_count: u32::try_from(r.attempts.len()).unwrap_or(u32::MAX),
        attempts: serde_json::to_string(&attempts).expect("attempts serialise"),
        exit_code: r.exit_code,
        http_status: r.http_status.and_then(|s| u16::try_from(s).ok()),
        output,
        output_truncated: r.output_truncated || cut_now,
        error: cut(&r.error, MAX_ERROR).to_owned(),
        retry_of,
        revision: r.revision,
        // A value that is not a trace context is dropped, not refused: a trace is a nicety and
        // must never keep a report from being stored.
        traceparent: Parent::parse(&r.traceparent).map(|p| p.traceparent()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> pb::ExecutionReport {
        pb::ExecutionReport {
            execution_id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            job_id: "job-1".into(),
            agent_id: "agent-1".into(),
            scheduled_at_ms: 1_700_000_000_000,
            status: pb::ExecutionStatus::Running as i32,
            trigger: pb::TriggerKind::Schedule as i32,
            revision: 1,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_report_becomes_a_record_with_nulls_for_zero_instants() {
        let record = record_from_proto(report()).unwrap();
        assert_eq!(record.status, Status::Running);
        assert_eq!(record.started_at, None);
        assert_eq!(record.attempts, "[]");
    }

    #[test]
    fn unusable_reports_say_why() {
        let mut r = report();
        r.execution_id = String::new();
        assert!(record_from_proto(r).unwrap_err().contains("execution_id"));
        let mut r = report();
        r.status = 0;
        assert!(record_from_proto(r).unwrap_err().contains("status"));
        let mut r = report();
        r.scheduled_at_ms = -5;
        assert!(
            record_from_proto(r)
                .unwrap_err()
                .contains("scheduled_at_ms")
        );
    }

    #[test]
    fn long_output_and_errors_are_capped() {
        let mut r = report();
        r.output = "x".repeat(MAX_OUTPUT * 2);
        r.error = "e".repeat(MAX_ERROR * 2);
        let record = record_from_proto(r).unwrap();
        assert!(record.output.len() <= MAX_OUTPUT && record.output_truncated);
        assert_eq!(record.error.len(), MAX_ERROR);
    }
}
