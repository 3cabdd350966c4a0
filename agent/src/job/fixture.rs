//! A valid `JobSpec` for the agent's unit tests to start from (a shell job every hour).

use crony_proto::v1 as pb;

pub(crate) fn spec(id: &str) -> pb::JobSpec {
    pb::JobSpec {
        id: id.into(),
        name: id.into(),
        schedule: "@every 1h".into(),
        timezone: "UTC".into(),
        enabled: true,
        target: Some(pb::Target {
            kind: Some(pb::target::Kind::Shell(pb::ShellTarget {
                command: "true".into(),
                ..pb::ShellTarget::default()
            })),
        }),
        timeout_secs: 60,
        retry: Some(pb::RetryPolicy {
            max_retries: 0,
            backoff: pb::Backoff::Exponential as i32,
            initial_secs: 5,
            max_secs: 300,
        }),
        overlap: pb::Overlap::Skip as i32,
        misfire: pb::Misfire::FireOnce as i32,
        async_timeout_secs: 3600,
        assignment_epoch: 1,
        ..pb::JobSpec::default()
    }
}
