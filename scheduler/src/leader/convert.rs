//! The job as stored (domain) → the job as an agent receives it (proto).

use crony_proto::v1 as pb;

use crate::domain::job::{Backoff, Job, Misfire, Overlap, Target};

pub fn to_proto(job: &Job) -> pb::JobSpec {
    let spec = &job.spec;
    let target = match &spec.target {
        Target::Http {
            method,
            url,
            headers,
            body,
            success_status,
            ..
        } => pb::target::Kind::Http(pb::HttpTarget {
            method: method.clone(),
            url: url.clone(),
            headers: headers.clone().into_iter().collect(),
            body: body.clone(),
            success_status: success_status.map(u32::from).unwrap_or(0),
        }),
        Target::Grpc {
            endpoint,
            method,
            metadata,
            ..
        } => pb::target::Kind::Grpc(pb::GrpcTarget {
            endpoint: endpoint.clone(),
            method: method.clone(),
            metadata: metadata.clone().into_iter().collect(),
        }),
        Target::Shell {
            command,
            workdir,
            env,
            ..
        } => pb::target::Kind::Shell(pb::ShellTarget {
            command: command.clone(),
            workdir: workdir.clone().unwrap_or_default(),
            env: env.clone().into_iter().collect(),
        }),
    };
    pb::JobSpec {
        // Fires after this instant that nobody ran are the new owner's to handle by the misfire
        // policy: the newest instant any agent reported, or the last change of the job if that
        // is later (a definition answers only for its own instants: a resumed job's paused
        // period and an edited job's old schedule are not its misses).
        misfire_since_ms: job
            .last_scheduled_at
            .map_or(job.updated_at, |at| at.max(job.updated_at))
            .timestamp_millis(),
        id: job.id.to_string(),
        name: spec.name.clone(),
        schedule: spec.schedule.clone(),
        timezone: spec.timezone.clone(),
        enabled: spec.enabled,
        target: Some(pb::Target { kind: Some(target) }),
        payload: spec.payload.clone(),
        timeout_secs: spec.timeout_secs,
        retry: Some(pb::RetryPolicy {
            max_retries: spec.retry.max_retries,
            backoff: match spec.retry.backoff {
                Backoff::Fixed => pb::Backoff::Fixed,
                Backoff::Exponential => pb::Backoff::Exponential,
            } as i32,
            initial_secs: spec.retry.initial_secs,
            max_secs: spec.retry.max_secs,
        }),
        overlap: match spec.overlap {
            Overlap::Skip => pb::Overlap::Skip,
            Overlap::Allow => pb::Overlap::Allow,
            Overlap::Replace => pb::Overlap::Replace,
        } as i32,
        misfire: match spec.misfire {
            Misfire::Skip => pb::Misfire::Skip,
            Misfire::FireOnce => pb::Misfire::FireOnce,
        } as i32,
        async_timeout_secs: spec.async_timeout_secs,
        assignment_epoch: job.assignment_epoch,
        updated_at_ms: job.updated_at.timestamp_millis(),
        // Set by the leader when the job moves between live agents (see `leader::moves`).
        resume_after_ms: 0,
        uncertain_through_ms: 0,
        busy_until_ms: 0,
        every_anchor_ms: job.created_at.timestamp_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn the_misfire_window_starts_at_the_last_recorded_instant_or_the_last_change_if_later() {
        let spec = serde_json::from_value(serde_json::json!({
            "name": "x", "schedule": "@every 1m", "target": {"kind": "shell", "command": "true"}
        }))
        .unwrap();
        let updated = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut job = Job {
            id: "j".into(),
            spec,
            agent_id: None,
            assignment_epoch: 1,
            created_at: updated,
            updated_at: updated,
            last_scheduled_at: None,
        };
        assert_eq!(to_proto(&job).misfire_since_ms, updated.timestamp_millis());
        let fired = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        job.last_scheduled_at = Some(fired);
        assert_eq!(to_proto(&job).misfire_since_ms, fired.timestamp_millis());
        let resumed = Utc.with_ymd_and_hms(2026, 1, 2, 3, 5, 0).unwrap();
        job.updated_at = resumed;
        assert_eq!(to_proto(&job).misfire_since_ms, resumed.timestamp_millis());
    }
}
