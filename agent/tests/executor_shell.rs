//! Shell executor: real `sh` processes, their output, exit codes and process-group cleanup.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use crony_agent::executor::{AttemptStatus, Executor, Executors, OUTPUT_CAP, run_attempt};
use crony_agent::job::Job;
use crony_proto::v1::{ShellTarget, target};
use tokio_util::sync::CancellationToken;

fn job(target: ShellTarget) -> Job {
    support::job("shell-job", target::Kind::Shell(target))
}

fn shell(command: &str) -> Box<dyn Executor> {
    Executors::new(true)
        .for_job(&job(ShellTarget {
            command: command.into(),
            ..Default::default()
        }))
        .unwrap()
}

/// Alive means present and not a zombie: killed grandchildren are reparented, and whoever
/// reaps them may take a moment.
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

fn pids_in(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[tokio::test]
async fn success_captures_stdout_and_stderr_in_order() {
    let out = shell("echo out; echo err >&2; echo out2")
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.output, "out\nerr\nout2\n");
    assert!(!out.output_truncated);
    assert!(out.error.is_empty());
}

#[tokio::test]
async fn non_zero_exit_fails() {
    let out = shell("echo partial; exit 3").execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.error, "exit code 3");
    assert_eq!(out.output, "partial\n");
}

#[tokio::test]
async fn death_by_signal_fails_with_the_signal() {
    let out = shell("kill -9 $$").execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert_eq!(out.exit_code, None);
    assert_eq!(out.error, "killed by signal 9 (SIGKILL)");
}

#[tokio::test]
async fn env_workdir_and_context() {
    let dir = tempfile::tempdir().unwrap();
    let exec = Executors::new(true)
        .for_job(&job(ShellTarget {
            command: r#"pwd; echo "$FOO|$CRONY_EXECUTION_ID|$CRONY_JOB_ID|$CRONY_ATTEMPT|$CRONY_SCHEDULED_AT|$CRONY_PAYLOAD""#.into(),
            workdir: dir.path().to_string_lossy().into_owned(),
            env: [
                ("FOO".to_string(), "bar baz".to_string()),
                // The context wins over the job's own env.
                ("CRONY_ATTEMPT".to_string(), "99".to_string()),
            ]
            .into(),
        }))
        .unwrap();
    let out = exec.execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(
        out.output,
        format!(
            "{}\nbar baz|exec-123|job-456|2|2026-01-02T03:04:05+00:00|{{\"region\":\"cn\"}}\n",
            canonical.display()
        )
    );
}

#[tokio::test]
async fn missing_workdir_fails_clearly() {
    let exec = Executors::new(true)
        .for_job(&job(ShellTarget {
            command: "true".into(),
            workdir: "/nonexistent/crony-test-dir".into(),
            ..Default::default()
        }))
        .unwrap();
    let out = exec.execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert!(
        out.error.contains("/nonexistent/crony-test-dir"),
        "{}",
        out.error
    );
}

#[tokio::test]
async fn shell_is_refused_when_disabled() {
    let err = Executors::new(false)
        .for_job(&job(ShellTarget {
            command: "true".into(),
            ..Default::default()
        }))
        .err()
        .unwrap();
    assert!(err.contains("shell disabled"), "{err}");
}

/// Refused when the job arrives, so such a job never fails fire by fire.
#[test]
fn a_job_without_a_command_is_refused_up_front() {
    let mut no_target = support::spec("empty", target::Kind::Shell(ShellTarget::default()));
    no_target.target = None;
    let err = Job::try_from(&no_target).unwrap_err();
    assert_eq!(err.field, "target", "{err}");
    let empty = support::try_job("empty", target::Kind::Shell(ShellTarget::default()));
    assert_eq!(empty.unwrap_err().field, "target.shell.command");
}

/// The shell and a subshell ignore SIGTERM, and two grandchildren hold the output pipe: after
/// the timeout none of them may survive, and the attempt must not wait for the pipe.
#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let command = format!(
        r#"trap '' TERM
(trap '' TERM; sleep 100) & echo $! >> {f}
sleep 100 & echo $! >> {f}
echo $$ >> {f}
wait"#,
        f = pids.display()
    );
    let exec = shell(&command);
    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let attempt = tokio::spawn(async move {
        run_attempt(
            exec.as_ref(),
            &support::ctx(),
            timeout,
            &CancellationToken::new(),
        )
        .await
    });
    assert!(
        support::eventually(timeout, || pids_in(&pids).len() == 3).await,
        "the job never started its processes"
    );
    let out = tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .expect("the attempt returns promptly")
        .unwrap();
    assert_eq!(out.status, AttemptStatus::TimedOut);
    assert!(
        started.elapsed() < timeout + Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let pids = pids_in(&pids);
    assert!(
        support::eventually(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))).await,
        "still alive: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn kill_token_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let command = format!(
        "trap '' TERM; sleep 100 & echo $! >> {f}; echo $$ >> {f}; wait",
        f = pids.display()
    );
    let exec = shell(&command);
    let kill = CancellationToken::new();
    let attempt = {
        let kill = kill.clone();
        tokio::spawn(async move {
            run_attempt(
                exec.as_ref(),
                &support::ctx(),
                Duration::from_secs(60),
                &kill,
            )
            .await
        })
    };
    assert!(support::eventually(Duration::from_secs(10), || pids_in(&pids).len() == 2).await);
    kill.cancel();
    let out = tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .expect("the attempt returns promptly")
        .unwrap();
    assert_eq!(out.status, AttemptStatus::Killed);
    let pids = pids_in(&pids);
    assert!(support::eventually(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))).await);
}

/// A job that exits while something it started still holds the pipe: the attempt ends with the
/// shell, and the leftover goes with it.
#[tokio::test]
async fn leftovers_do_not_hold_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let command = format!("sleep 100 & echo $! > {}; echo done", pids.display());
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        shell(&command).execute(&support::ctx()),
    )
    .await
    .expect("the attempt returns promptly");
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    assert_eq!(out.output, "done\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    let pids = pids_in(&pids);
    assert_eq!(pids.len(), 1);
    assert!(support::eventually(Duration::from_secs(5), || !alive(pids[0])).await);
}

#[tokio::test]
async fn huge_output_keeps_head_and_tail() {
    let out = shell("echo START; head -c 10000000 /dev/zero | tr '\\0' x; echo; echo END")
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{}", out.error);
    assert!(out.output_truncated);
    assert!(
        out.output.starts_with("START\nxxx"),
        "{}",
        &out.output[..20]
    );
    assert!(out.output.ends_with("xxx\nEND\n"));
    let dropped = 6 + 10_000_000 + 1 + 4 - OUTPUT_CAP;
    assert!(
        out.output
            .contains(&format!("\n… [truncated {dropped} bytes] …\n")),
        "marker missing"
    );
    assert!(out.output.len() < OUTPUT_CAP + 100, "{}", out.output.len());
}
