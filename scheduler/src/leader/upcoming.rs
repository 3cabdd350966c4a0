//! The leader's view of the next fires across the cluster, for the overview's "next fires":
//! each enabled job's next instant, kept in order and advanced only for jobs whose instant
//! passed (so a second costs as many schedule evaluations as fires happened, not one per job),
//! and the soonest few published to MySQL for every scheduler's API to read — together with
//! how many jobs each agent holds (a GROUP BY over 100,000 jobs per page view is not cheap).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::ids::{AgentId, JobId};
use crate::domain::schedule::SharedSchedule;
use crate::store::Store;
use crate::store::upcoming::PublishedFire;

/// How many fires are published.
pub const PUBLISHED: usize = 10;
/// How often the soonest fires are published (also how stale they can be).
const TICK: Duration = Duration::from_secs(1);
/// Published again this often even when nothing changed, so readers can tell a live list.
const REFRESH: Duration = Duration::from_secs(5);

/// What reconcile tells the view.
#[derive(Debug, Clone)]
pub enum UpcomingChange {
    /// A job's definition (new or changed).
    Job {
        id: JobId,
        name: String,
        agent: Option<AgentId>,
        schedule: String,
        timezone: String,
        enabled: bool,
        /// When the job was created: a fixed rate's phase.
        created_at: DateTime<Utc>,
    },
    /// A job's new owner.
    Owner {
        id: JobId,
        agent: Option<AgentId>,
    },
    Removed(JobId),
}

pub type UpcomingTx = mpsc::UnboundedSender<UpcomingChange>;

struct Entry {
    name: String,
    agent: Option<AgentId>,
    tz: Tz,
    /// Shared with every job of the same text: a parsed cron pattern is ~5.8 KB.
    schedule: SharedSchedule,
    next: Option<DateTime<Utc>>,
}

/// Each enabled job's next fire, in order.
#[derive(Default)]
pub struct Upcoming {
    jobs: HashMap<JobId, Entry>,
    order: BTreeSet<(DateTime<Utc>, JobId)>,
    /// The owner of every owned job, paused ones included.
    owners: HashMap<JobId, AgentId>,
    per_agent: BTreeMap<AgentId, u64>,
}

impl Upcoming {
    pub fn apply(&mut self, change: UpcomingChange, now: DateTime<Utc>) {
        match change {
            UpcomingChange::Job {
                id,
                name,
                agent,
                schedule,
                timezone,
                enabled,
                created_at,
            } => {
                self.remove(&id);
                self.set_owner(&id, agent.clone());
                let Ok(tz) = timezone.parse::<Tz>() else {
                    return;
                };
                let Ok(schedule) = SharedSchedule::parse(&schedule) else {
                    return;
                };
                let schedule = schedule.anchored(created_at);
                if enabled {
                    let entry = Entry {
                        name,
                        agent,
                        tz,
                        next: schedule.next_after(tz, now),
                        schedule,
                    };
                    self.insert(id, entry);
                }
            }
            UpcomingChange::Owner { id, agent } => {
                self.set_owner(&id, agent.clone());
                if let Some(entry) = self.jobs.get_mut(&id) {
                    entry.agent = agent;
                }
            }
            UpcomingChange::Removed(id) => {
                self.remove(&id);
                self.set_owner(&id, None);
            }
        }
    }

    /// Moves every job whose next fire is at or before `now` to its fire after `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        while let Some((at, id)) = self.order.first().cloned() {
            if at > now {
                break;
            }
            self.order.pop_first();
            if let Some(entry) = self.jobs.get_mut(&id) {
                entry.next = entry.schedule.next_after(entry.tz, now);
                if let Some(next) = entry.next {
                    self.order.insert((next, id));
                }
            }
        }
    }

    /// The `n` soonest fires, soonest first.
    pub fn soonest(&self, n: usize) -> Vec<PublishedFire> {
        self.order
            .iter()
            .take(n)
            .filter_map(|(at, id)| {
                let entry = self.jobs.get(id)?;
                Some(PublishedFire {
                    job_id: id.clone(),
                    job_name: entry.name.clone(),
                    agent_id: entry.agent.clone(),
                    at: *at,
                    timezone: entry.tz.name().to_owned(),
                })
            })
            .collect()
    }

    /// Jobs held by each agent (paused ones included), by agent id.
    pub fn jobs_per_agent(&self) -> &BTreeMap<AgentId, u64> {
        &self.per_agent
    }

    fn set_owner(&mut self, id: &JobId, agent: Option<AgentId>) {
        if let Some(old) = self.owners.remove(id)
            && let Some(n) = self.per_agent.get_mut(&old)
        {
            *n -= 1;
            if *n == 0 {
                self.per_agent.remove(&old);
            }
        }
        if let Some(agent) = agent {
            *self.per_agent.entry(agent.clone()).or_default() += 1;
            self.owners.insert(id.clone(), agent);
        }
    }

    fn insert(&mut self, id: JobId, entry: Entry) {
        if let Some(next) = entry.next {
            self.order.insert((next, id.clone()));
        }
        self.jobs.insert(id, entry);
    }

    fn remove(&mut self, id: &JobId) {
        if let Some(old) = self.jobs.remove(id)
            && let Some(next) = old.next
        {
            self.order.remove(&(next, id.clone()));
        }
    }
}

/// The leader duty: applies what reconcile sends and publishes the soonest fires each tick
/// when they changed (or every [`REFRESH`]), until `duties` ends.
pub async fn run(
    store: Arc<dyn Store>,
    mut changes: mpsc::UnboundedReceiver<UpcomingChange>,
    duties: CancellationToken,
) {
    let mut view = Upcoming::default();
    type Sent = (Vec<PublishedFire>, BTreeMap<AgentId, u64>);
    let mut published: Option<(Sent, tokio::time::Instant)> = None;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = duties.cancelled() => return,
            change = changes.recv() => match change {
                Some(change) => view.apply(change, Utc::now()),
                None => return,
            },
            _ = tick.tick() => {
                let now = Utc::now();
                view.advance(now);
                let sent = (view.soonest(PUBLISHED), view.jobs_per_agent().clone());
                let fresh = published.as_ref().is_some_and(|(last, at)| {
                    *last == sent && at.elapsed() < REFRESH
                });
                if fresh {
                    continue;
                }
                match store.publish_upcoming(&sent.0, &sent.1, now).await {
                    Ok(()) => published = Some((sent, tokio::time::Instant::now())),
                    Err(e) => tracing::debug!(error = %e, "cannot publish the next fires"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("an instant")
    }

    fn job(id: &str, schedule: &str, enabled: bool) -> UpcomingChange {
        UpcomingChange::Job {
            id: id.into(),
            name: format!("{id}-name"),
            agent: None,
            schedule: schedule.into(),
            timezone: "Asia/Shanghai".into(),
            enabled,
            created_at: at("2026-01-01T00:00:00Z"),
        }
    }

    fn ids(view: &Upcoming) -> Vec<(String, String)> {
        view.soonest(PUBLISHED)
            .into_iter()
            .map(|f| (f.job_id.into(), f.at.to_rfc3339()))
            .collect()
    }

    #[test]
    fn soonest_first_and_paused_or_invalid_jobs_left_out() {
        let now = at("2026-12-02T00:00:30Z");
        let mut view = Upcoming::default();
        view.apply(job("hourly", "0 * * * *", true), now);
        view.apply(job("minutely", "* * * * *", true), now);
        view.apply(job("paused", "* * * * * *", false), now);
        view.apply(job("broken", "not a schedule", true), now);
        view.apply(job("past", "@at 2026-12-01T00:00:00Z", true), now);
        assert_eq!(
            ids(&view),
            vec![
                ("minutely".into(), "2026-12-02T00:01:00+00:00".into()),
                ("hourly".into(), "2026-12-02T01:00:00+00:00".into()),
            ]
        );
    }

    #[test]
    fn advancing_moves_passed_fires_on_and_keeps_the_rest() {
        let mut view = Upcoming::default();
        view.apply(job("s", "@every 10s", true), at("2026-12-02T00:00:00Z"));
        view.apply(job("h", "0 * * * *", true), at("2026-12-02T00:00:00Z"));
        view.advance(at("2026-12-02T00:00:25Z"));
        // On the phase of its creation (a whole minute): :30, not 25 s + 10 s.
        assert_eq!(
            ids(&view)[0],
            ("s".into(), "2026-12-02T00:00:30+00:00".into())
        );
        assert_eq!(
            ids(&view)[1],
            ("h".into(), "2026-12-02T01:00:00+00:00".into())
        );
    }

    #[test]
    fn changes_replace_and_removals_forget() {
        let now = at("2026-12-02T00:00:00Z");
        let mut view = Upcoming::default();
        view.apply(job("a", "* * * * *", true), now);
        view.apply(job("a", "0 * * * *", true), now);
        assert_eq!(
            ids(&view),
            vec![("a".into(), "2026-12-02T01:00:00+00:00".into())]
        );
        view.apply(
            UpcomingChange::Owner {
                id: "a".into(),
                agent: Some("agent-1".into()),
            },
            now,
        );
        assert_eq!(view.soonest(1)[0].agent_id, Some("agent-1".into()));
        let mut paused = job("a", "0 * * * *", false);
        if let UpcomingChange::Job { agent, .. } = &mut paused {
            *agent = Some("agent-1".into());
        }
        view.apply(paused, now);
        assert!(ids(&view).is_empty(), "paused");
        let counts: Vec<_> = view.jobs_per_agent().iter().collect();
        assert_eq!(
            counts,
            [(&AgentId::from("agent-1"), &1)],
            "a paused job still counts"
        );
        view.apply(UpcomingChange::Removed("a".into()), now);
        assert!(view.jobs_per_agent().is_empty(), "deleted");
        view.apply(job("b", "0 * * * *", true), now);
        view.apply(UpcomingChange::Removed("b".into()), now);
        assert!(ids(&view).is_empty(), "deleted");
    }
}
