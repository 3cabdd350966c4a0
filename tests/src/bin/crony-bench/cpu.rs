//! CPU time of processes, from `/proc/PID/stat` (user + system), for the cost per execution.

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`: the workspace forbids the
/// `unsafe` a direct `sysconf` needs; 100 on every Linux it runs on).
fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU of `pid` in µs; `None` if it cannot be read.
fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some((utime + stime) / ticks_per_second() * 1e6)
}

/// The first process named `name` whose command line holds `fragment`.
pub fn pid_of(name: &str, fragment: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(name) && cmdline.contains(fragment) {
            return Some(pid);
        }
    }
    None
}

/// CPU µs of a fixed list of processes (NaN where one cannot be read).
pub struct Cpu([f64; 4]);

impl Cpu {
    pub fn read(pids: &[Option<u32>; 4]) -> Self {
        Self(pids.map(|pid| pid.and_then(cpu_us).unwrap_or(f64::NAN)))
    }

    /// µs spent by each since `before`.
    pub fn since(&self, before: &Cpu) -> [f64; 4] {
        std::array::from_fn(|i| self.0[i] - before.0[i])
    }
}
