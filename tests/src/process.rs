//! Child processes that die with the test process, and the binaries they run.

#![allow(unsafe_code)] // prctl(PR_SET_PDEATHSIG) has no safe wrapper; see `spawn`.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Request = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` so that it is SIGKILLed when the test process exits, even on a panic or
/// an abort: a test run must never leave etcd, MariaDB or agents behind.
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, and test threads end
/// with their test; so every spawn happens on one thread that lives as long as the process.
pub fn spawn(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("child-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_here(&mut command));
                }
            })
            .expect("spawner thread starts");
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

fn spawn_here(command: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Sends `signal` to a child (SIGKILL, SIGTERM, SIGSTOP, SIGCONT).
pub fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) with a pid we own.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// A binary of this workspace, next to the running test or tool (`target/<profile>/`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    // Integration tests run from target/<profile>/deps.
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests through cargo",
        path.display()
    );
    path
}

/// A command for one of this workspace's binaries that ignores any `CRONY_*` variables of the
/// environment the tests run in, so only what the test sets applies.
pub fn crony_command(binary: &str) -> Command {
    without_crony_env(Command::new(workspace_binary(binary)))
}

fn without_crony_env(mut command: Command) -> Command {
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CRONY_")) {
        command.env_remove(key);
    }
    command
}

/// [`crony_command`] run inside the network namespace `netns` (`ip netns exec`, which execs
/// the binary itself: the child's pid is the agent's).
pub fn crony_command_in_netns(binary: &str, netns: &str) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", netns])
        .arg(workspace_binary(binary));
    without_crony_env(command)
}

/// Runs `program` to its end; an error naming the command and its stderr if it fails.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    use anyhow::Context;
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// The first of `names` found on PATH or in the sbin directories Debian installs servers to.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// A free TCP port on loopback (bound, released), for a server started next. Taken below
/// Linux's ephemeral range (32768–60999), so no outgoing connection can grab it before the
/// server binds it; spread by process id so concurrent test binaries rarely pick the same.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let seed = std::process::id().wrapping_mul(7_919);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (LOW + seed.wrapping_add(n.wrapping_mul(104_729)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Removes `path` when the process exits: shared servers live in statics, which are never
/// dropped, and their temp dirs would otherwise pile up in /tmp run after run.
pub fn remove_at_exit(path: &std::path::Path) {
    static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static REGISTERED: OnceLock<()> = OnceLock::new();
    extern "C" fn remove_all() {
        for path in PATHS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    PATHS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_owned());
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain function that only touches a static behind a mutex.
        unsafe {
            libc::atexit(remove_all);
        }
    });
}

/// A server child process (etcd, MariaDB) that can be killed and relaunched, with its log.
pub struct Supervised {
    name: &'static str,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Supervised {
    pub fn new(name: &'static str, log: PathBuf) -> Self {
        Self {
            name,
            log,
            child: Mutex::new(None),
        }
    }

    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// Spawns `command` and waits until `ready` says so, the child exits, or `within` passes.
    pub fn launch(
        &self,
        command: Command,
        within: std::time::Duration,
        ready: impl Fn() -> bool,
    ) -> anyhow::Result<()> {
        let child = spawn(command).map_err(|e| anyhow::anyhow!("spawning {}: {e}", self.name))?;
        *self.lock() = Some(child);
        let deadline = std::time::Instant::now() + within;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(child) = self.lock().as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                anyhow::bail!(
                    "{} exited with {status}; log: {}",
                    self.name,
                    self.log_tail()
                );
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{} not ready within {within:?}; log: {}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&self) {
        if let Some(mut child) = self.lock().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `sig` (SIGSTOP, SIGCONT) to the running child, if any.
    pub fn signal(&self, sig: i32) {
        if let Some(child) = self.lock().as_ref() {
            signal(child, sig);
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().rev().take(10).collect::<Vec<_>>().join(" | ")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}
