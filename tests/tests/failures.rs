//! Issue 4 failure scenarios on real processes: an agent killed mid-run, the scheduler or
//! MariaDB away while jobs fire, and an agent frozen past its lease. Each ends by checking
//! MySQL (and what the user's service saw) for lost or doubled executions.

mod common;

use std::time::Duration;

use common::{create_job, every_call_recorded_once, executions_in_mysql, executions_of, online};
use crony_tests::{
    AgentProcess, HttpSink, MariaDb, SchedulerProcess, TestEnv, TestScheduler, shared_etcd,
    wait_until,
};
use serde_json::{Value, json};

/// How long the scheduler or MariaDB stays away (the issue asks for 10 s).
const OUTAGE: Duration = Duration::from_secs(10);

fn every_second(name: &str, sink: &HttpSink) -> Value {
    json!({
        "name": name,
        "schedule": "* * * * * *",
        "target": {"kind": "http", "method": "POST", "url": sink.url(&format!("/{name}"))},
        "misfire": "skip",
    })
}

#[tokio::test]
async fn a_run_interrupted_by_sigkill_is_lost_then_retried_on_another_agent() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut first = AgentProcess::spawn(env.agent_spec("first").ttl(2))?;
    let first_id = first.id().await?;
    online(&s.base_url, 1).await?;
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "interrupted",
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "shell", "command": "sleep 3; echo finished"},
            "timeout_secs": 30,
            "retry": {"max_retries": 1, "backoff": "fixed", "initial_secs": 1},
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let mut second = AgentProcess::spawn(env.agent_spec("second").ttl(2))?;
    let second_id = second.id().await?;
    online(&s.base_url, 2).await?;
    let triggered = common::trigger_when_placed(&s.base_url, &job).await?;
    wait_until(
        "the run is recorded as running",
        Duration::from_secs(10),
        || async {
            let all = executions_of(&s.base_url, &job).await?;
            Ok(all
                .iter()
                .any(|e| e["id"] == triggered.as_str() && e["status"] == "running")
                .then_some(()))
        },
    )
    .await?;
    first.kill();
    let lost = wait_until("the run is lost", Duration::from_secs(10), || async {
        let all = executions_of(&s.base_url, &job).await?;
        Ok(all
            .into_iter()
            .find(|e| e["id"] == triggered.as_str() && e["status"] == "lost"))
    })
    .await?;
    assert_eq!(lost["agent_id"], first_id.as_str());
    let retry = wait_until(
        "the retry succeeds on the other agent",
        Duration::from_secs(20),
        || async {
            let all = executions_of(&s.base_url, &job).await?;
            Ok(all
                .into_iter()
                .find(|e| e["retry_of"] == triggered.as_str() && e["status"] == "succeeded"))
        },
    )
    .await?;
    assert_eq!(retry["agent_id"], second_id.as_str(), "{retry}");
    assert_eq!(retry["trigger"], "retry");
    assert_eq!(
        retry["scheduled_at"], lost["scheduled_at"],
        "a retry keeps the instant it retries"
    );
    drop(second);
    Ok(())
}

#[tokio::test]
async fn executions_fired_while_the_scheduler_is_down_land_in_mysql_once() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let logs = env.path("logs");
    let mut scheduler = SchedulerProcess::spawn(&env.etcd, &env.prefix, &env.db_url, &logs)?;
    let _agent = {
        let mut a = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
        a.id().await?;
        a
    };
    online(&scheduler.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let job = create_job(&scheduler.base_url, &every_second("through-outage", &sink))
        .await
        .map_err(anyhow::Error::msg)?;
    wait_until("the job fires", Duration::from_secs(15), || async {
        Ok((sink.calls_to("/through-outage").len() >= 2).then_some(()))
    })
    .await?;
    scheduler.kill();
    let during = sink.calls_to("/through-outage").len();
    tokio::time::sleep(OUTAGE).await;
    assert!(
        sink.calls_to("/through-outage").len() >= during + 8,
        "the agent keeps firing while no scheduler runs"
    );
    let scheduler = SchedulerProcess::spawn(&env.etcd, &env.prefix, &env.db_url, &logs)?;
    online(&scheduler.base_url, 1).await?;
    wait_until("fires continue", Duration::from_secs(10), || async {
        Ok((sink.calls_to("/through-outage").len() >= during + 12).then_some(()))
    })
    .await?;
    let calls = every_call_recorded_once(&env.db_url, &sink, &job, "/through-outage").await?;
    assert!(calls >= 14, "{calls} calls");
    Ok(())
}

#[tokio::test]
async fn executions_fired_while_mariadb_is_down_land_in_mysql_once() -> anyhow::Result<()> {
    let db = MariaDb::start()?;
    let env = TestEnv::on(shared_etcd(), &db);
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let _agent = {
        let mut a = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
        a.id().await?;
        a
    };
    online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let job = create_job(&s.base_url, &every_second("through-db-outage", &sink))
        .await
        .map_err(anyhow::Error::msg)?;
    wait_until("the job fires", Duration::from_secs(15), || async {
        Ok((sink.calls_to("/through-db-outage").len() >= 2).then_some(()))
    })
    .await?;
    db.kill();
    let during = sink.calls_to("/through-db-outage").len();
    tokio::time::sleep(OUTAGE).await;
    assert!(
        sink.calls_to("/through-db-outage").len() >= during + 8,
        "firing goes on without MySQL"
    );
    db.restart()?;
    wait_until("fires continue", Duration::from_secs(10), || async {
        Ok((sink.calls_to("/through-db-outage").len() >= during + 12).then_some(()))
    })
    .await?;
    let calls = every_call_recorded_once(&env.db_url, &sink, &job, "/through-db-outage").await?;
    assert!(calls >= 14, "{calls} calls");
    Ok(())
}

#[tokio::test]
async fn an_agent_frozen_past_its_lease_never_runs_a_moved_instant_twice() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut frozen = AgentProcess::spawn(env.agent_spec("frozen").ttl(2))?;
    let frozen_id = frozen.id().await?;
    online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let mut jobs = Vec::new();
    for n in 0..5 {
        let name = format!("moved-{n}");
        jobs.push((
            create_job(&s.base_url, &every_second(&name, &sink))
                .await
                .map_err(anyhow::Error::msg)?,
            format!("/{name}"),
        ));
    }
    wait_until(
        "every job fires on the first agent",
        Duration::from_secs(15),
        || async {
            Ok(jobs
                .iter()
                .all(|(_, path)| !sink.calls_to(path).is_empty())
                .then_some(()))
        },
    )
    .await?;
    let mut other = AgentProcess::spawn(env.agent_spec("other").ttl(2))?;
    let other_id = other.id().await?;
    online(&s.base_url, 2).await?;

    frozen.freeze();
    let ids = online(&s.base_url, 1).await?;
    assert_eq!(
        ids,
        std::slice::from_ref(&other_id),
        "the frozen agent's lease expired"
    );
    wait_until(
        "the other agent fires the moved jobs",
        Duration::from_secs(15),
        || async {
            for (job, _) in &jobs {
                let rows = executions_of(&s.base_url, job).await?;
                if !rows
                    .iter()
                    .any(|e| e["agent_id"] == other_id.as_str() && e["status"] == "succeeded")
                {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await?;
    // Stay frozen a while longer, so the frozen agent wakes up with a backlog of instants that
    // the other agent has run meanwhile: exactly what it must not run again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    frozen.thaw();
    // Back: it must re-register and wait for the scheduler, not fire its stale copies.
    online(&s.base_url, 2).await?;
    // Give a misbehaving agent time to fire its stale copies before looking.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (job, path) in &jobs {
        every_call_recorded_once(&env.db_url, &sink, job, path).await?;
    }
    assert!(!frozen_id.is_empty());
    drop(other);
    Ok(())
}

#[tokio::test]
async fn fires_due_while_nobody_owned_a_job_are_recorded_never_dropped() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    // Without rebalancing: the heir joining must not take a job over before `dying` is killed,
    // or that job would have no gap to record.
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.rebalance = false;
    })
    .await?;
    let mut dying = AgentProcess::spawn(env.agent_spec("dying").ttl(2))?;
    dying.id().await?;
    online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let mut jobs = Vec::new();
    for policy in ["skip", "fire_once"] {
        let mut body = every_second(&format!("gap-{policy}"), &sink);
        body["misfire"] = json!(policy);
        jobs.push(
            create_job(&s.base_url, &body)
                .await
                .map_err(anyhow::Error::msg)?,
        );
    }
    for job in &jobs {
        wait_until(
            "the job fires on the first agent",
            Duration::from_secs(15),
            || async {
                let rows = executions_in_mysql(&env.db_url, job).await?;
                Ok((rows.iter().filter(|(_, s, _)| s == "succeeded").count() >= 2).then_some(()))
            },
        )
        .await?;
    }
    let mut heir = AgentProcess::spawn(env.agent_spec("heir").ttl(2))?;
    let heir_id = heir.id().await?;
    online(&s.base_url, 2).await?;
    dying.kill();
    online(&s.base_url, 1).await?;
    let mut histories = Vec::new();
    for job in &jobs {
        // The heir fires a few instants of its own after taking the job over.
        histories.push(
            wait_until(
                "the heir fires the job",
                Duration::from_secs(15),
                || async {
                    let all = executions_of(&s.base_url, job).await?;
                    let by_heir = all
                        .iter()
                        .filter(|e| e["agent_id"] == heir_id.as_str() && e["status"] == "succeeded")
                        .count();
                    Ok((by_heir >= 3).then_some(all))
                },
            )
            .await?,
        );
        // Every second from the first instant to the last has a record: run or missed.
        let instants: std::collections::BTreeSet<i64> = executions_in_mysql(&env.db_url, job)
            .await
            .map_err(anyhow::Error::msg)?
            .into_iter()
            .map(|(_, _, at)| at)
            .collect();
        let (first, last) = (
            *instants.first().unwrap_or(&0),
            *instants.last().unwrap_or(&0),
        );
        let silent: Vec<i64> = (first / 1000..=last / 1000)
            .map(|s| s * 1000)
            .filter(|at| !instants.contains(at))
            .collect();
        assert!(
            silent.is_empty(),
            "instants with no record at all: {silent:?}"
        );
    }
    // The lease TTL (2 s) leaves instants nobody ran. The heir cannot know whether `dying` ran
    // the ones inside its lease, so it records them `lost` (never runs them again); any after
    // the lease and before it was armed are `missed` (skip) or run late (fire_once).
    for history in &histories {
        let by_heir = |status: &str| {
            history
                .iter()
                .filter(|e| e["status"] == status && e["agent_id"] == heir_id.as_str())
                .count()
        };
        assert!(
            by_heir("lost") > 0,
            "the failover gap left no lost record: {history:?}"
        );
        let missed: Vec<&Value> = history.iter().filter(|e| e["status"] == "missed").collect();
        assert!(
            missed.iter().all(|e| e["agent_id"] == heir_id.as_str()),
            "{missed:?}"
        );
    }
    drop(heir);
    Ok(())
}
