//! Shell targets: `sh -c <command>` in its own process group, output captured, the whole group
//! killed when the attempt ends.
//!
//! Timeouts and kills reach an executor only by dropping its future, so the process group is
//! owned by a drop guard: however the attempt ends (exit, timeout, kill, agent shutdown), no
//! process it started outlives it. `kill_on_drop` alone would not do: it kills only `sh`, and a
//! grandchild that keeps the output pipe open (or ignores SIGTERM) would survive.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::output::OutputCapture;
use super::{AttemptContext, AttemptOutcome, AttemptStatus, Executor, OUTPUT_CAP};
use crate::job::ShellTarget;

/// After the shell exits and its group is killed, how long to keep reading output. Normally the
/// pipe reaches EOF at once; this only bounds a process that left the group (`setsid`) and
/// still holds the pipe.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// Agent settings (cluster token, etcd endpoints) travel in `CRONY_*` variables; user commands
/// must not see them, so inherited variables with this prefix are removed before the job's own.
const AGENT_ENV_PREFIX: &str = "CRONY_";

pub struct ShellExecutor {
    target: ShellTarget,
}

impl ShellExecutor {
    pub fn new(target: ShellTarget) -> Self {
        Self { target }
    }

    fn command(&self, ctx: &AttemptContext) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(&self.target.command);
        if let Some(workdir) = &self.target.workdir {
            cmd.current_dir(workdir);
        }
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with(AGENT_ENV_PREFIX) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.target.env.iter().map(|(k, v)| (k, v)));
        // Set last so a job's own env cannot spoof its execution context.
        cmd.env("CRONY_EXECUTION_ID", &ctx.execution_id)
            .env("CRONY_JOB_ID", &ctx.job_id)
            .env("CRONY_JOB_NAME", &ctx.job_name)
            .env("CRONY_ATTEMPT", ctx.attempt.to_string())
            .env("CRONY_SCHEDULED_AT", ctx.scheduled_at.to_rfc3339())
            .env("CRONY_PAYLOAD", &ctx.payload);
        // The OpenTelemetry convention for a child process's parent span.
        match &ctx.traceparent {
            Some(traceparent) => cmd.env("TRACEPARENT", traceparent),
            None => cmd.env_remove("TRACEPARENT"),
        };
        cmd.stdin(Stdio::null())
            // A new group whose id is the shell's pid: one signal reaches every descendant that
            // did not deliberately leave it.
            .process_group(0)
            // Makes tokio reap `sh` in the background if the future is dropped before it exited.
            .kill_on_drop(true);
        cmd
    }
}

#[async_trait::async_trait]
impl Executor for ShellExecutor {
    async fn execute(&self, ctx: &AttemptContext) -> AttemptOutcome {
        let mut cmd = self.command(ctx);
        // One pipe for stdout and stderr keeps their lines in the order the job wrote them.
        let (reader, stdout) = match std::io::pipe() {
            Ok(pipe) => pipe,
            Err(e) => return failed(format!("cannot create output pipe: {e}")),
        };
        let stderr = match stdout.try_clone() {
            Ok(stderr) => stderr,
            Err(e) => return failed(format!("cannot create output pipe: {e}")),
        };
        cmd.stdout(stdout).stderr(stderr);
        let mut reader = match pipe::Receiver::from_owned_fd(reader.into()) {
            Ok(reader) => reader,
            Err(e) => return failed(format!("cannot watch output pipe: {e}")),
        };
        let spawned = cmd.spawn();
        // The command holds the pipe's write ends; they must be closed here or EOF never comes.
        drop(cmd);
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return failed(spawn_error(&self.target, &e)),
        };
        let mut group = match child.id() {
            Some(pid) => GroupGuard::new(pid),
            None => return failed("the shell exited before it could be watched"),
        };

        let mut capture = OutputCapture::new(OUTPUT_CAP);
        let mut buf = vec![0u8; 16 * 1024];
        let mut eof = false;
        let status = loop {
            tokio::select! {
                read = reader.read(&mut buf), if !eof => match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => capture.push(&buf[..n]),
                },
                status = child.wait() => break status,
            }
        };
        // The attempt is over when the shell is: whatever it left running in its group goes too,
        // which also releases the pipe so the rest of the output can be read.
        group.kill();
        if !eof {
            let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, async {
                loop {
                    match reader.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => capture.push(&buf[..n]),
                    }
                }
            })
            .await;
        }

        let (output, output_truncated) = capture.finish();
        let mut outcome = match status {
            Ok(status) => from_exit_status(status),
            Err(e) => failed(format!("cannot wait for the shell: {e}")),
        };
        outcome.output = output;
        outcome.output_truncated = output_truncated;
        outcome
    }
}

fn failed(error: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::with_status(AttemptStatus::Failed, error)
}

fn spawn_error(target: &ShellTarget, e: &std::io::Error) -> String {
    if let Some(workdir) = &target.workdir
        && e.kind() == std::io::ErrorKind::NotFound
    {
        // spawn reports a missing workdir as a missing program; say which is likelier.
        return format!("cannot start sh in {workdir:?}: {e}");
    }
    format!("cannot start sh: {e}")
}

fn from_exit_status(status: ExitStatus) -> AttemptOutcome {
    if let Some(code) = status.code() {
        let mut outcome = if code == 0 {
            AttemptOutcome::with_status(AttemptStatus::Succeeded, "")
        } else {
            failed(format!("exit code {code}"))
        };
        outcome.exit_code = Some(code);
        return outcome;
    }
    match status.signal() {
        Some(signal) => failed(format!("killed by signal {signal}{}", signal_name(signal))),
        None => failed(format!("ended abnormally: {status}")),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGQUIT => " (SIGQUIT)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGPIPE => " (SIGPIPE)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

/// SIGKILLs the attempt's process group when the attempt ends, including by being dropped.
struct GroupGuard {
    pgid: libc::pid_t,
    armed: bool,
}

impl GroupGuard {
    fn new(pid: u32) -> Self {
        Self {
            pgid: libc::pid_t::try_from(pid).unwrap_or(0),
            armed: true,
        }
    }

    fn kill(&mut self) {
        // pgid 0 would mean "our own group": never signal the agent itself.
        if self.armed && self.pgid > 0 {
            kill_process_group(self.pgid);
        }
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL, not SIGTERM: the attempt is already over (timed out, killed or finished), and a job
/// that traps TERM must not be able to outlive it. ESRCH (group already gone) is expected.
#[allow(unsafe_code)]
fn kill_process_group(pgid: libc::pid_t) {
    // SAFETY: killpg only sends a signal; it touches no memory of ours. `pgid` is positive and
    // names the group created for this attempt's shell: while the shell is unreaped or any
    // member lives, the id cannot be reused by another group. (After the shell is reaped with
    // no member left, reuse would need a new process to take that pid *and* lead a group in the
    // microseconds before this call.)
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}
