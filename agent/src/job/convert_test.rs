//! Tests of `JobSpec` → `Job`: every field the agent uses is typed or refused by name, and the
//! way back for the held-jobs file converts to an equal job.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_proto::v1 as pb;

use super::*;
use crate::job::fixture::spec;
use crate::job::{HttpTarget, Target};

fn http(url: &str) -> pb::target::Kind {
    pb::target::Kind::Http(pb::HttpTarget {
        method: "post".into(),
        url: url.into(),
        headers: [
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("authorization".to_owned(), "Bearer x".to_owned()),
        ]
        .into(),
        body: "{}".into(),
        success_status: 201,
    })
}

fn grpc(endpoint: &str, method: &str) -> pb::target::Kind {
    pb::target::Kind::Grpc(pb::GrpcTarget {
        endpoint: endpoint.into(),
        method: method.into(),
        metadata: [("x-team".to_owned(), "bi".to_owned())].into(),
    })
}

fn with_target(kind: pb::target::Kind) -> pb::JobSpec {
    pb::JobSpec {
        target: Some(pb::Target { kind: Some(kind) }),
        ..spec("j")
    }
}

/// The fixture's spec with one change.
fn with(change: impl FnOnce(&mut pb::JobSpec)) -> pb::JobSpec {
    let mut spec = spec("j");
    change(&mut spec);
    spec
}

/// The field the conversion of `spec` refused, and its message.
fn refused(spec: &pb::JobSpec) -> (&'static str, String) {
    let e = Job::try_from(spec).expect_err("converted");
    assert_eq!(e.job, spec.id);
    (e.field, e.to_string())
}

#[test]
fn a_spec_converts_to_typed_values() {
    let pushed = pb::JobSpec {
        schedule: "*/15 * * * *".into(),
        timezone: "Europe/Berlin".into(),
        timeout_secs: 30,
        misfire: pb::Misfire::Skip as i32,
        overlap: pb::Overlap::Replace as i32,
        retry: Some(pb::RetryPolicy {
            max_retries: 3,
            backoff: pb::Backoff::Fixed as i32,
            initial_secs: 7,
            max_secs: 0,
        }),
        misfire_since_ms: 1_767_225_600_000,
        ..with_target(http("https://example.com/run"))
    };
    let job = Job::try_from(&pushed).unwrap();
    assert_eq!(job.id.as_str(), "j");
    assert_eq!(job.tz, chrono_tz::Europe::Berlin);
    assert!(job.schedule.get().is_cron());
    assert_eq!(job.timeout, Duration::from_secs(30));
    assert_eq!(job.misfire, Misfire::Skip);
    assert_eq!(job.overlap, Overlap::Replace);
    assert_eq!(job.retry.backoff, Backoff::Fixed);
    assert_eq!(job.retry.initial, Duration::from_secs(7));
    assert_eq!(job.retry.cap, None, "0 is no cap");
    assert_eq!(
        job.misfire_since,
        DateTime::<Utc>::from_timestamp_millis(1_767_225_600_000)
    );
    assert_eq!(job.resume_after, None, "0 is none");
    let Target::Http(HttpTarget {
        method,
        headers,
        success_status,
        ..
    }) = &job.target
    else {
        panic!("{:?}", job.target);
    };
    assert_eq!(method, reqwest::Method::POST);
    assert_eq!(success_status.map(|s| s.as_u16()), Some(201));
    // Sorted, so that two pushes of one map compare equal.
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["authorization", "content-type"]);
}

#[test]
fn the_way_back_converts_to_an_equal_job() {
    for kind in [
        http("https://Example.com:443/run?x=1"),
        grpc("http://127.0.0.1:50051", ""),
        pb::target::Kind::Shell(pb::ShellTarget {
            command: "echo hi".into(),
            workdir: "/tmp".into(),
            env: [("A".to_owned(), "1".to_owned())].into(),
        }),
    ] {
        let pushed = pb::JobSpec {
            resume_after_ms: 1_767_225_600_000,
            updated_at_ms: 42,
            ..with_target(kind)
        };
        let job = Job::try_from(&pushed).unwrap();
        let stored = pb::JobSpec::from(&job);
        assert_eq!(Job::try_from(&stored).unwrap(), job, "{stored:?}");
    }
}

#[test]
fn grpc_defaults_to_the_callback_method_and_keeps_a_uri() {
    let job = Job::try_from(&with_target(grpc("http://Callback.Example:50051", ""))).unwrap();
    let Target::Grpc(target) = &job.target else {
        panic!("{:?}", job.target);
    };
    assert_eq!(target.path.as_str(), crony_proto::DEFAULT_CALLBACK_METHOD);
    assert_eq!(target.endpoint.host(), Some("callback.example"));
    assert_eq!(target.endpoint.port_u16(), Some(50051));
}

#[test]
fn each_unusable_field_is_refused_by_name() {
    let cases: Vec<(&str, pb::JobSpec)> = vec![
        ("id", with(|s| s.id.clear())),
        ("timezone", with(|s| s.timezone = "Mars/Olympus".into())),
        ("timezone", with(|s| s.timezone.clear())),
        ("schedule", with(|s| s.schedule = "61 * * * *".into())),
        ("schedule", with(|s| s.schedule = "@every 0s".into())),
        ("target", with(|s| s.target = None)),
        (
            "target",
            with(|s| s.target = Some(pb::Target { kind: None })),
        ),
        ("target.http.url", with_target(http("not a url"))),
        ("target.grpc.endpoint", with_target(grpc("not a uri", ""))),
        (
            "target.grpc.method",
            with_target(grpc("http://h:1", "Execute")),
        ),
        ("timeout_secs", with(|s| s.timeout_secs = 0)),
        ("async_timeout_secs", with(|s| s.async_timeout_secs = 0)),
        ("retry", with(|s| s.retry = None)),
        ("overlap", with(|s| s.overlap = 0)),
        ("overlap", with(|s| s.overlap = 99)),
        ("misfire", with(|s| s.misfire = 0)),
        ("misfire", with(|s| s.misfire = 7)),
        ("misfire_since_ms", with(|s| s.misfire_since_ms = -1)),
        ("resume_after_ms", with(|s| s.resume_after_ms = i64::MAX)),
    ];
    for (field, bad) in cases {
        let (got, message) = refused(&bad);
        assert_eq!(got, field, "{message}");
        assert!(message.contains(field), "{message}");
    }
}

#[test]
fn bad_target_details_are_refused_by_name() {
    let mut target = pb::HttpTarget {
        method: "GE T".into(),
        url: "http://h/".into(),
        ..pb::HttpTarget::default()
    };
    let job = |t: &pb::HttpTarget| with_target(pb::target::Kind::Http(t.clone()));
    assert_eq!(refused(&job(&target)).0, "target.http.method");
    target.method = String::new();
    target.headers = [("bad header".to_owned(), "v".to_owned())].into();
    assert_eq!(refused(&job(&target)).0, "target.http.headers");
    target.headers = [("ok".to_owned(), "line\nbreak".to_owned())].into();
    assert_eq!(refused(&job(&target)).0, "target.http.headers");
    target.headers.clear();
    target.success_status = 70_000;
    assert_eq!(refused(&job(&target)).0, "target.http.success_status");
    target.success_status = 0;
    let ok = Job::try_from(&job(&target)).unwrap();
    let Target::Http(http) = &ok.target else {
        panic!()
    };
    assert_eq!(http.method, reqwest::Method::GET, "unset is GET");

    let bad_metadata = pb::GrpcTarget {
        endpoint: "http://h:1".into(),
        metadata: [("x team".to_owned(), "bi".to_owned())].into(),
        ..pb::GrpcTarget::default()
    };
    let (field, _) = refused(&with_target(pb::target::Kind::Grpc(bad_metadata)));
    assert_eq!(field, "target.grpc.metadata");
    let empty = pb::ShellTarget {
        command: "  ".into(),
        ..pb::ShellTarget::default()
    };
    let (field, _) = refused(&with_target(pb::target::Kind::Shell(empty)));
    assert_eq!(field, "target.shell.command");
}

#[test]
fn unknown_enum_values_are_named_in_the_refusal() {
    let bad = pb::JobSpec {
        retry: Some(pb::RetryPolicy {
            backoff: 5,
            ..pb::RetryPolicy::default()
        }),
        ..spec("j")
    };
    let (field, message) = refused(&bad);
    assert_eq!(field, "retry.backoff");
    assert!(
        message.contains("is 5, expected FIXED or EXPONENTIAL"),
        "{message}"
    );
    assert!(message.starts_with("job \"j\""), "{message}");
}
