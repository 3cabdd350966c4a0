//! Network partitions (issue 15): an agent in its own network namespace, cut from etcd but
//! reachable from the scheduler, cut from the scheduler but not etcd, and cut from both, then
//! healed. Jobs of 1 s and 5 s (shorter and longer than its 3 s lease) under both misfire
//! policies; checked at the user's service (its own listener on the host) and in MySQL: no
//! instant run twice, every instant recorded once, every run that reached the service has its
//! real outcome, nothing left `running`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{calls_by_instant, create_job, online, rows_by_instant};
use crony_tests::cluster::AgentSpec;
use crony_tests::disk::FreezableDisk;
use crony_tests::netns::{Cage, Path};
use crony_tests::{
    AgentProcess, Etcd, HttpSink, TestEnv, TestScheduler, shared_mariadb, wait_until,
};
use serde_json::json;

/// The caged agent's lease: the 5 s jobs' period is longer, the 1 s jobs' shorter.
const TTL_SECS: u64 = 3;
/// Where the scheduler's webhook alerts arrive (on the service's sink).
const ALERTS: &str = "/alerts";

struct Job {
    id: String,
    name: String,
    period_secs: i64,
}

/// One caged agent that owns every job, a survivor on the host, their scheduler and etcd.
struct Lab {
    cage: Cage,
    _etcd: Etcd,
    env: TestEnv,
    s: TestScheduler,
    sink: HttpSink,
    /// The caged agent's data dir, when it is a disk the test can freeze; before the agent,
    /// so it is thawed before the agent is killed (drop order).
    disk: Option<FreezableDisk>,
    /// Kept alive for the test (killed on drop).
    _caged: AgentProcess,
    caged_id: String,
    _survivor: AgentProcess,
    jobs: Vec<Job>,
}

impl Lab {
    async fn start() -> anyhow::Result<Self> {
        Self::start_with(false).await
    }

    /// With `freezable`, the caged agent's data dir is a [`FreezableDisk`].
    async fn start_with(freezable: bool) -> anyhow::Result<Self> {
        let cage = Cage::create()?;
        let etcd = Etcd::start_also_on(cage.host_ip(Path::Etcd))?;
        let env = TestEnv::on(&etcd, shared_mariadb());
        // The scheduler's gRPC on the host end of the scheduler link: the caged agent reports
        // there, the survivor reaches the same (local) address.
        let grpc = SocketAddr::new(cage.host_ip(Path::Scheduler).into(), 0);
        let sink = HttpSink::start_on(cage.host_ip(Path::Service).into()).await?;
        let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
            c.rebalance = false; // the jobs stay on the caged agent until a fault moves them
            c.grpc_addr = grpc;
            // Every lost and missed instant alerts (no throttle), so each can be counted.
            c.alerts.webhook = Some(sink.url(ALERTS));
            c.alerts.throttle = Duration::ZERO;
            c.alert_interval = Duration::from_millis(200);
        })
        .await?;
        let disk = match freezable {
            true => Some(FreezableDisk::mount(&env.path("caged"), 64 << 20)?),
            false => None,
        };
        let mut caged = AgentProcess::spawn(caged_spec(&cage, &etcd, &env))?;
        let caged_id = caged.id().await?;
        online(&s.base_url, 1).await?;
        let jobs = create_jobs(&s, &sink).await?;
        let survivor = AgentProcess::spawn(env.agent_spec("survivor").ttl(TTL_SECS))?;
        online(&s.base_url, 2).await?;
        let lab = Self {
            cage,
            _etcd: etcd,
            env,
            s,
            sink,
            disk,
            _caged: caged,
            caged_id,
            _survivor: survivor,
            jobs,
        };
        lab.every_job_fires().await?;
        Ok(lab)
    }

    /// Waits until every job has been called once more than now (5 s jobs included).
    async fn every_job_fires(&self) -> anyhow::Result<()> {
        let before: Vec<usize> = self.jobs.iter().map(|j| self.calls(j)).collect();
        wait_until("every job fires", Duration::from_secs(20), || async {
            let behind: Vec<&str> = self
                .jobs
                .iter()
                .zip(&before)
                .filter(|(j, n)| self.calls(j) <= **n)
                .map(|(j, _)| j.name.as_str())
                .collect();
            Ok(behind.is_empty().then_some(()))
        })
        .await
    }

    /// Waits until each 1 s job was called `more` times more than now.
    async fn every_second_job_fires(&self, more: usize) -> anyhow::Result<()> {
        let fast: Vec<&Job> = self.jobs.iter().filter(|j| j.period_secs == 1).collect();
        let before: Vec<usize> = fast.iter().map(|j| self.calls(j)).collect();
        wait_until(
            &format!("{more} more calls of each 1 s job"),
            Duration::from_secs(30),
            || async {
                let behind = fast
                    .iter()
                    .zip(&before)
                    .filter(|(j, n)| self.calls(j) < **n + more)
                    .count();
                Ok((behind == 0).then_some(()))
            },
        )
        .await
    }

    fn calls(&self, job: &Job) -> usize {
        self.sink.calls_to(&format!("/{}", job.name)).len()
    }

    async fn caged_is(&self, state: &str) -> anyhow::Result<()> {
        let (base, id) = (&self.s.base_url, &self.caged_id);
        wait_until(
            &format!("the caged agent {state}"),
            Duration::from_secs(30),
            || async move {
                let ids = common::agent_ids(base, state).await?;
                Ok(ids.contains(id).then_some(()))
            },
        )
        .await
    }

    /// After the heal: every instant of every job, from its first call to `until`, has one
    /// row; every instant the service saw is `succeeded` (the real outcome, not `missed` or
    /// `lost`); none is `running`; the service saw no instant twice.
    async fn settled(&self, until: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        for job in &self.jobs {
            let path = format!("/{}", job.name);
            let twice: Vec<_> = calls_by_instant(&self.sink, &path)
                .into_iter()
                .filter(|(_, n)| *n > 1)
                .collect();
            anyhow::ensure!(twice.is_empty(), "{}: called twice for {twice:?}", job.name);
            wait_until(
                &format!("{}: every instant recorded once, as it happened", job.name),
                Duration::from_secs(30),
                || async {
                    let gaps = self.gaps(job, until).await?;
                    match gaps.len() {
                        0 => Ok(Some(())),
                        n => Err(format!("{n} wrong: {}", gaps[..n.min(8)].join("; "))),
                    }
                },
            )
            .await?;
        }
        self.alerts_once().await
    }

    /// Every `lost` and `missed` row left has one alert of its event, and every alert row was
    /// delivered once: `sent`, and its id at the webhook exactly once.
    async fn alerts_once(&self) -> anyhow::Result<()> {
        let jobs: Vec<&str> = self.jobs.iter().map(|j| j.id.as_str()).collect();
        wait_until(
            "each lost and missed instant alerted once",
            Duration::from_secs(30),
            || async {
                let problems =
                    common::alerts_once::problems(&self.env.db_url, &jobs, &self.sink, ALERTS)
                        .await?;
                match problems.len() {
                    0 => Ok(Some(())),
                    n => Err(format!("{n} wrong: {}", problems[..n.min(8)].join("; "))),
                }
            },
        )
        .await
    }

    /// What is still wrong with `job`'s record up to `until` (nothing when settled).
    async fn gaps(
        &self,
        job: &Job,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, String> {
        let seen = calls_by_instant(&self.sink, &format!("/{}", job.name));
        let rows = rows_by_instant(&self.env.db_url, &job.id).await?;
        let first = *seen.keys().min().ok_or("never called")?;
        let step = job.period_secs * 1000;
        let mut wrong = Vec::new();
        for at in (first..=until.timestamp_millis()).step_by(step as usize) {
            let statuses: Vec<&str> = rows
                .get(&at)
                .map(|r| r.iter().map(|(_, s)| s.as_str()).collect())
                .unwrap_or_default();
            let ok = matches!(
                (seen.contains_key(&at), statuses.as_slice()),
                (true, ["succeeded"]) | (false, ["missed" | "lost" | "skipped"])
            );
            if !ok {
                let rows = rows.get(&at).cloned().unwrap_or_default();
                wrong.push(format!(
                    "{at}: seen {} rows {rows:?}",
                    seen.contains_key(&at)
                ));
            }
        }
        Ok(wrong)
    }
}

/// The caged agent: etcd and the scheduler reached over their own links.
fn caged_spec(cage: &Cage, etcd: &Etcd, env: &TestEnv) -> AgentSpec {
    let grpc = format!("{}:0", cage.agent_ip(Path::Scheduler));
    AgentSpec::new(
        &etcd.endpoint_on(cage.host_ip(Path::Etcd)),
        &env.prefix,
        &env.path("caged"),
    )
    .ttl(TTL_SECS)
    .in_netns(cage.name())
    .env("CRONY_AGENT_GRPC_ADDR", &grpc)
}

/// Four jobs on the only agent: 1 s and 5 s, `skip` and `fire_once`.
async fn create_jobs(s: &TestScheduler, sink: &HttpSink) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for (schedule, period_secs) in [("* * * * * *", 1), ("*/5 * * * * *", 5)] {
        for misfire in ["skip", "fire_once"] {
            let name = format!("p{period_secs}-{misfire}");
            let body = json!({
                "name": name,
                "schedule": schedule,
                "target": {"kind": "http", "method": "POST", "url": sink.url(&format!("/{name}"))},
                "misfire": misfire,
                "alerts": {"on": ["lost", "missed"]},
            });
            let id = create_job(&s.base_url, &body)
                .await
                .map_err(anyhow::Error::msg)?;
            jobs.push(Job {
                id,
                name,
                period_secs,
            });
        }
    }
    Ok(jobs)
}

/// The last whole instant a check can expect to be settled: a little before now.
fn settled_until() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::seconds(2)
}

/// Jobs held per agent in MySQL.
async fn owners(db: &str) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut by_agent = BTreeMap::new();
    for (agent, _) in common::assignments_in_mysql(db)
        .await
        .map_err(anyhow::Error::msg)?
        .into_values()
    {
        *by_agent.entry(agent.unwrap_or_default()).or_insert(0) += 1;
    }
    Ok(by_agent)
}

/// Cut from etcd, still reachable from the scheduler: its lease lapses, so it stops firing
/// and the survivor takes its jobs within the lease; what it ran before its fence lapsed
/// reaches MySQL over the link that still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cut_from_etcd_stops_and_its_jobs_move_without_a_double() -> anyhow::Result<()> {
    let lab = Lab::start().await?;
    lab.cage.cut(Path::Etcd)?;
    lab.caged_is("offline").await?;
    lab.every_second_job_fires(3).await?;
    let by_agent = owners(&lab.env.db_url).await?;
    anyhow::ensure!(
        !by_agent.contains_key(&lab.caged_id),
        "jobs still on the cut agent: {by_agent:?}"
    );
    lab.cage.heal(Path::Etcd)?;
    lab.caged_is("online").await?;
    lab.every_job_fires().await?;
    lab.settled(settled_until()).await
}

/// Cut from the scheduler, still leased in etcd: it keeps firing its jobs on its own clock
/// and spools the outcomes; a drain issued meanwhile cannot reach it, so its jobs stay there
/// (never a second owner while its lease holds) and move once it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cut_from_the_scheduler_keeps_firing_and_a_drain_waits_for_it()
-> anyhow::Result<()> {
    let lab = Lab::start().await?;
    lab.cage.cut(Path::Scheduler)?;
    let drain = crony_tests::api_client()
        .patch(lab.s.url(&format!("/api/v1/agents/{}", lab.caged_id)))
        .json(&json!({"drained": true}))
        .send()
        .await?;
    anyhow::ensure!(drain.status() == 200, "drain: {}", drain.text().await?);
    lab.every_second_job_fires(5).await?;
    lab.caged_is("online").await?;
    lab.cage.heal(Path::Scheduler)?;
    wait_until(
        "the drain moves every job",
        Duration::from_secs(30),
        || async {
            let by_agent = owners(&lab.env.db_url).await.map_err(|e| e.to_string())?;
            Ok((!by_agent.contains_key(&lab.caged_id)).then_some(()))
        },
    )
    .await?;
    lab.every_job_fires().await?;
    lab.settled(settled_until()).await
}

/// Cut from both: its fence lapses and the survivor takes over; its outcomes wait in its
/// spool and, after the heal, replace the `lost` records the survivor wrote for its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cut_from_everything_loses_no_outcome_and_nothing_runs_twice() -> anyhow::Result<()>
{
    let lab = Lab::start().await?;
    lab.cage.cut(Path::Etcd)?;
    lab.cage.cut(Path::Scheduler)?;
    lab.caged_is("offline").await?;
    lab.every_second_job_fires(3).await?;
    lab.cage.heal(Path::Etcd)?;
    lab.cage.heal(Path::Scheduler)?;
    lab.caged_is("online").await?;
    lab.every_job_fires().await?;
    lab.settled(settled_until()).await
}

/// The caged agent's disk hangs (fsfreeze) just as a fire writes its start, and it is cut from
/// etcd: by the time the write returns its lease has lapsed and the job is the survivor's. The
/// fence is checked again after the write, so that fire never calls the service — it is
/// recorded `skipped` (self-fenced) — and nothing it held runs twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_whose_start_write_outlasts_the_lease_never_calls_the_service() -> anyhow::Result<()>
{
    let lab = Lab::start_with(true).await?;
    let disk = lab.disk.as_ref().expect("a freezable disk");
    let frozen = disk.freeze()?;
    lab.cage.cut(Path::Etcd)?;
    lab.caged_is("offline").await?;
    lab.every_second_job_fires(3).await?;
    let thawed_at = chrono::Utc::now();
    drop(frozen);
    let fenced = wait_until(
        "the blocked fire is recorded skipped (self-fenced)",
        Duration::from_secs(30),
        || async {
            let mut fenced = Vec::new();
            for job in &lab.jobs {
                for (id, status, _) in common::executions_in_mysql(&lab.env.db_url, &job.id).await?
                {
                    if status == "skipped" && self_fenced(&lab, &id).await? {
                        fenced.push(id);
                    }
                }
            }
            Ok((!fenced.is_empty()).then_some(fenced))
        },
    )
    .await?;
    let late: Vec<String> = lab
        .jobs
        .iter()
        .flat_map(|j| lab.sink.calls_to(&format!("/{}", j.name)))
        .filter(|c| c.received_at > thawed_at)
        .map(|c| c.header("x-crony-execution-id"))
        .filter(|id| fenced.contains(id))
        .collect();
    anyhow::ensure!(late.is_empty(), "fenced fires called the service: {late:?}");
    lab.cage.heal(Path::Etcd)?;
    lab.caged_is("online").await?;
    lab.every_job_fires().await?;
    lab.settled(settled_until()).await
}

/// Whether execution `id` was refused because the lease lapsed while its start was written.
async fn self_fenced(lab: &Lab, id: &str) -> Result<bool, String> {
    let (_, body) = common::get_json(&lab.s.url(&format!("/api/v1/executions/{id}"))).await?;
    Ok(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("self-fenced"))
}
