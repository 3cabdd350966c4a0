//! Per-job Prometheus series, the same on scheduler and agent: labelled `job_id` and
//! `job_name` (never `job`, which Prometheus renames to `exported_job` on scrape), bounded by
//! `CRONY_METRICS_PER_JOB` (`auto`, `on`, `off`), and removed when their job is deleted or
//! renamed, so the number of series follows the jobs that exist.
//!
//! Hand-written rather than a crate: the `prometheus` crate removes a series only by its full
//! label set, so the tracker remembers every label set it handed out per job.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::core::{
    Atomic, Collector, GenericCounter, GenericCounterVec, GenericGauge, GenericGaugeVec, MetricVec,
    MetricVecBuilder,
};

/// Above this many jobs `auto` stops per-job series (and drops those it has): 1,000 jobs keep
/// a scrape near 10k lines; cluster-level series are unaffected.
pub const AUTO_MAX_JOBS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PerJob {
    #[default]
    Auto,
    On,
    Off,
}

impl std::str::FromStr for PerJob {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "auto" => Ok(PerJob::Auto),
            "on" => Ok(PerJob::On),
            "off" => Ok(PerJob::Off),
            other => Err(format!("{other:?} must be auto, on or off")),
        }
    }
}

type Remover = Box<dyn Fn() + Send>;

struct Tracked {
    name: String,
    /// Label sets handed out, by metric and extra labels: each removes its own series.
    series: HashMap<(u64, Vec<String>), Remover>,
}

/// The per-job series of one process.
pub struct JobSeries {
    mode: PerJob,
    max_jobs: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    jobs: HashMap<String, Tracked>,
    /// `auto` went over the limit: no per-job series until the jobs fit again.
    over: bool,
}

impl JobSeries {
    pub fn new(mode: PerJob) -> Self {
        Self::with_limit(mode, AUTO_MAX_JOBS)
    }

    pub fn with_limit(mode: PerJob, max_jobs: usize) -> Self {
        Self {
            mode,
            max_jobs,
            state: Mutex::new(State::default()),
        }
    }

    /// The counter of `vec` for this job (labels `job_id`, `job_name`, then `extra`), or
    /// `None` while per-job series are off.
    pub fn counter<P: Atomic + 'static>(
        &self,
        vec: &GenericCounterVec<P>,
        id: &str,
        name: &str,
        extra: &[&str],
    ) -> Option<GenericCounter<P>> {
        self.metric(vec, id, name, extra)
    }

    /// The gauge of `vec` for this job, like [`JobSeries::counter`].
    pub fn gauge<P: Atomic + 'static>(
        &self,
        vec: &GenericGaugeVec<P>,
        id: &str,
        name: &str,
        extra: &[&str],
    ) -> Option<GenericGauge<P>> {
        self.metric(vec, id, name, extra)
    }

    fn metric<T: MetricVecBuilder + 'static>(
        &self,
        vec: &MetricVec<T>,
        id: &str,
        name: &str,
        extra: &[&str],
    ) -> Option<T::M> {
        let vec = vec.clone();
        self.series(id, name, extra, vec_key(&vec), move |labels| {
            let removed = vec.clone();
            let handle = vec.with_label_values(labels);
            let owned: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
            let remove = Box::new(move || {
                let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                let _ = removed.remove_label_values(&refs);
            });
            (handle, remove as Remover)
        })
    }

    fn series<H>(
        &self,
        id: &str,
        name: &str,
        extra: &[&str],
        metric: u64,
        make: impl FnOnce(&[&str]) -> (H, Remover),
    ) -> Option<H> {
        let mut state = self.state.lock().expect("job series lock");
        if !self.enabled(&mut state, id) {
            return None;
        }
        // A renamed job: its old series go, the new name's come.
        if state.jobs.get(id).is_some_and(|t| t.name != name) {
            forget_one(&mut state, id);
        }
        let tracked = state.jobs.entry(id.to_owned()).or_insert_with(|| Tracked {
            name: name.to_owned(),
            series: HashMap::new(),
        });
        let mut labels = vec![id, name];
        labels.extend_from_slice(extra);
        let (handle, remove) = make(&labels);
        let key = (metric, extra.iter().map(|s| s.to_string()).collect());
        tracked.series.entry(key).or_insert(remove);
        debug_assert!(tracked.series.len() < 64, "one job's label sets are few");
        Some(handle)
    }

    /// Whether a series of job `id` may be made; `auto` turns everything off (and drops what
    /// it had) at the first job over the limit.
    fn enabled(&self, state: &mut State, id: &str) -> bool {
        match self.mode {
            PerJob::On => true,
            PerJob::Off => false,
            PerJob::Auto if state.over => false,
            PerJob::Auto => {
                if !state.jobs.contains_key(id) && state.jobs.len() >= self.max_jobs {
                    tracing::warn!(
                        max = self.max_jobs,
                        "more jobs than CRONY_METRICS_PER_JOB=auto keeps series for: per-job \
                         series are off (cluster-level ones stay); set it to `on` to keep them"
                    );
                    let ids: Vec<String> = state.jobs.keys().cloned().collect();
                    for id in ids {
                        forget_one(state, &id);
                    }
                    state.over = true;
                    return false;
                }
                true
            }
        }
    }

    /// Removes every series of job `id` (deleted).
    pub fn forget(&self, id: &str) {
        forget_one(&mut self.state.lock().expect("job series lock"), id);
    }

    /// Keeps the series of the jobs `live` answers with their current name, and removes the
    /// others (deleted or renamed). `count` is how many jobs exist: `auto` comes back on
    /// when they fit again.
    pub fn retain(&self, live: impl Fn(&str) -> Option<String>, count: usize) {
        let mut state = self.state.lock().expect("job series lock");
        let gone: Vec<String> = state
            .jobs
            .iter()
            .filter(|(id, t)| live(id).as_deref() != Some(t.name.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            forget_one(&mut state, &id);
        }
        if state.over && count <= self.max_jobs {
            state.over = false;
        }
    }

    /// How many jobs have series now.
    pub fn jobs(&self) -> usize {
        self.state.lock().expect("job series lock").jobs.len()
    }
}

fn forget_one(state: &mut State, id: &str) {
    if let Some(tracked) = state.jobs.remove(id) {
        for remove in tracked.series.into_values() {
            remove();
        }
    }
}

/// Tells metrics apart inside one tracker: the id prometheus derives from the metric's name
/// and label names.
fn vec_key(vec: &impl Collector) -> u64 {
    vec.desc().first().map_or(0, |d| d.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{IntCounterVec, Opts, Registry};

    fn setup(mode: PerJob, max: usize) -> (JobSeries, IntCounterVec, Registry) {
        let registry = Registry::new();
        let vec = IntCounterVec::new(Opts::new("x_total", "x"), &["job_id", "job_name", "status"])
            .unwrap();
        registry.register(Box::new(vec.clone())).unwrap();
        (JobSeries::with_limit(mode, max), vec, registry)
    }

    fn series(registry: &Registry) -> usize {
        registry.gather().iter().map(|f| f.get_metric().len()).sum()
    }

    #[test]
    fn deleted_and_renamed_jobs_lose_their_series() {
        let (jobs, vec, registry) = setup(PerJob::On, 10);
        jobs.counter(&vec, "a", "alpha", &["succeeded"])
            .unwrap()
            .inc();
        jobs.counter(&vec, "a", "alpha", &["failed"]).unwrap().inc();
        jobs.counter(&vec, "b", "beta", &["succeeded"])
            .unwrap()
            .inc();
        assert_eq!(series(&registry), 3);
        jobs.forget("a");
        assert_eq!(series(&registry), 1);
        jobs.counter(&vec, "b", "beta-2", &["succeeded"])
            .unwrap()
            .inc();
        assert_eq!(series(&registry), 1, "the old name's series went");
        jobs.retain(|_| None, 0);
        assert_eq!(series(&registry), 0);
    }

    #[test]
    fn auto_stops_above_the_limit_and_off_never_starts() {
        let (jobs, vec, registry) = setup(PerJob::Auto, 2);
        assert!(jobs.counter(&vec, "a", "a", &["s"]).is_some());
        assert!(jobs.counter(&vec, "b", "b", &["s"]).is_some());
        assert!(jobs.counter(&vec, "c", "c", &["s"]).is_none());
        assert_eq!(series(&registry), 0, "over the limit, none are kept");
        assert!(jobs.counter(&vec, "a", "a", &["s"]).is_none());
        jobs.retain(|_| None, 2);
        assert!(
            jobs.counter(&vec, "a", "a", &["s"]).is_some(),
            "the jobs fit again"
        );
        let (off, vec, _) = setup(PerJob::Off, 2);
        assert!(off.counter(&vec, "a", "a", &["s"]).is_none());
        assert!("sometimes".parse::<PerJob>().is_err());
    }
}
