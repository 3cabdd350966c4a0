//! Job types of the management API (design §4), with the API's JSON field names, and a builder
//! for [`JobSpec`]. Optional settings left unset are not sent, so the server's defaults apply.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A job definition as `POST /api/v1/jobs` and `PUT /api/v1/jobs/{id}` take it.
///
/// ```
/// use crony_sdk::{JobSpec, Target};
///
/// let spec = JobSpec::new("settle", "0 */5 * * * *", Target::grpc("http://billing:50051", "/billing.Jobs/Settle"))
///     .timezone("Asia/Shanghai")
///     .payload("{\"ledger\":\"eu\"}")
///     .timeout_secs(120)
///     .retries(3);
/// assert_eq!(serde_json::to_value(&spec).unwrap()["target"]["kind"], "grpc");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Cron (6 or 5 fields, `@daily`, …), `@every <duration>`, `@delay <duration>` or
    /// `@at <RFC 3339>`.
    pub schedule: String,
    /// IANA zone of the schedule (`UTC` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Paused jobs do not fire (`true` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// What to call.
    pub target: Target,
    /// Handed to each call (gRPC `payload`, HTTP `X-Crony-Payload`, shell `CRONY_PAYLOAD`).
    #[serde(default)]
    pub payload: String,
    /// Per attempt (60 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u32>,
    /// Retries after a failure (none when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// `skip`, `allow` or `replace` (`skip` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
    /// `skip` or `fire_once` (`fire_once` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire: Option<Misfire>,
    /// Where the job may run (the cluster default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// How long an accepted run may take to report (3600 when unset); then it is `timed_out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_timeout_secs: Option<u32>,
    /// Who hears about failures (nobody when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
}

impl JobSpec {
    /// A job with the server's defaults for everything else.
    pub fn new(name: impl Into<String>, schedule: impl Into<String>, target: Target) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            schedule: schedule.into(),
            timezone: None,
            enabled: None,
            target,
            payload: String::new(),
            timeout_secs: None,
            retry: None,
            overlap: None,
            misfire: None,
            placement: None,
            async_timeout_secs: None,
            alerts: None,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the schedule's time zone (IANA name).
    pub fn timezone(mut self, timezone: impl Into<String>) -> Self {
        self.timezone = Some(timezone.into());
        self
    }

    /// Creates the job paused (`false`) or running (`true`).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: impl Into<String>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.timeout_secs = Some(secs);
        self
    }

    /// Retries `max_retries` times with the server's default backoff (exponential from 5 s).
    pub fn retries(mut self, max_retries: u32) -> Self {
        self.retry = Some(RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        });
        self
    }

    /// Sets the whole retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets the overlap policy.
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = Some(overlap);
        self
    }

    /// Sets the misfire policy.
    pub fn misfire(mut self, misfire: Misfire) -> Self {
        self.misfire = Some(misfire);
        self
    }

    /// Sets the placement.
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = Some(placement);
        self
    }

    /// Sets how long an accepted run may take to report its result.
    pub fn async_timeout_secs(mut self, secs: u32) -> Self {
        self.async_timeout_secs = Some(secs);
        self
    }

    /// Sets the alerts.
    pub fn alerts(mut self, alerts: Alerts) -> Self {
        self.alerts = Some(alerts);
        self
    }
}

/// What a job calls (`target.kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// An HTTP request; 2xx (or exactly `success_status`) succeeds, 202 means accepted.
    Http {
        /// `POST` when unset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// The URL to call.
        url: String,
        /// Extra request headers.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// The request body.
        #[serde(default)]
        body: String,
        /// The one status that counts as success (any 2xx when unset).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        success_status: Option<u16>,
        /// Names of `headers` whose values are secret: the API shows them as `"********"`
        /// (send that back to keep them) and stores them encrypted when the scheduler has a key.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_headers: Vec<String>,
    },
    /// A unary gRPC call of `crony.v1.ExecuteRequest` → `ExecuteResponse`.
    Grpc {
        /// `http://host:port`.
        endpoint: String,
        /// Full method path (`/crony.v1.JobCallback/Execute` when unset).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// Request metadata.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        metadata: BTreeMap<String, String>,
        /// Keys of `metadata` whose values are secret (see `secret_headers`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_metadata: Vec<String>,
    },
    /// A command run by `sh -c` on the agent (admins only).
    Shell {
        /// The command line.
        command: String,
        /// Working directory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workdir: Option<String>,
        /// Extra environment.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        /// Names of `env` variables whose values are secret (see `secret_headers`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_env: Vec<String>,
    },
}

impl Target {
    /// `POST url` with no body.
    pub fn http(url: impl Into<String>) -> Self {
        Target::Http {
            method: None,
            url: url.into(),
            headers: BTreeMap::new(),
            body: String::new(),
            success_status: None,
            secret_headers: Vec::new(),
        }
    }

    /// The gRPC method `method` (a full path) at `endpoint`.
    pub fn grpc(endpoint: impl Into<String>, method: impl Into<String>) -> Self {
        Target::Grpc {
            endpoint: endpoint.into(),
            method: Some(method.into()),
            metadata: BTreeMap::new(),
            secret_metadata: Vec::new(),
        }
    }

    /// `sh -c command`.
    pub fn shell(command: impl Into<String>) -> Self {
        Target::Shell {
            command: command.into(),
            workdir: None,
            env: BTreeMap::new(),
            secret_env: Vec::new(),
        }
    }

    /// Adds a header (HTTP), metadata entry (gRPC) or variable (shell) whose value is secret:
    /// never shown by the API nor logged, encrypted at rest when the scheduler has a key.
    ///
    /// ```
    /// let target = crony_sdk::Target::http("https://billing.internal/run")
    ///     .with_secret("Authorization", "Bearer s3cr3t");
    /// let json = serde_json::to_value(&target).unwrap();
    /// assert_eq!(json["headers"]["Authorization"], "Bearer s3cr3t");
    /// assert_eq!(json["secret_headers"], serde_json::json!(["Authorization"]));
    /// ```
    pub fn with_secret(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        let (map, secret) = match &mut self {
            Target::Http {
                headers,
                secret_headers,
                ..
            } => (headers, secret_headers),
            Target::Grpc {
                metadata,
                secret_metadata,
                ..
            } => (metadata, secret_metadata),
            Target::Shell {
                env, secret_env, ..
            } => (env, secret_env),
        };
        map.insert(name.clone(), value.into());
        secret.push(name);
        self
    }
}

/// Retries after a failed or timed-out attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts after the first failure.
    pub max_retries: u32,
    /// `fixed` or `exponential` (with jitter).
    pub backoff: Backoff,
    /// The first wait.
    pub initial_secs: u32,
    /// The longest wait.
    pub max_secs: u32,
}

impl Default for RetryPolicy {
    /// The server's defaults: no retries, exponential from 5 s up to 300 s.
    fn default() -> Self {
        Self {
            max_retries: 0,
            backoff: Backoff::Exponential,
            initial_secs: 5,
            max_secs: 300,
        }
    }
}

/// How retry waits grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Always `initial_secs`.
    Fixed,
    /// `initial_secs · 2^(n−1)`, capped, with jitter.
    Exponential,
}

/// What happens to a fire while the previous run still goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Record it as `skipped`.
    Skip,
    /// Run it alongside.
    Allow,
    /// Kill the running one and start the new one.
    Replace,
}

/// What happens to fires that were due while no agent owned the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// Record them all as `missed`.
    Skip,
    /// Run the newest now, record the rest as `missed`.
    FireOnce,
}

/// Which agents may run the job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Placement {
    /// `weighted_round_robin` or `fewest_jobs` (the cluster default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Only agents with all these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Pin to one agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// Who is told about what.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Alerts {
    /// Events: `failed`, `timed_out`, `recovered`, `missed`, `lost`, `failure_rate`,
    /// `unassigned`.
    #[serde(default)]
    pub on: Vec<String>,
    /// Email recipients.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Feishu bots.
    #[serde(default)]
    pub feishu_webhooks: Vec<FeishuWebhook>,
}

/// One Feishu bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeishuWebhook {
    /// The bot's webhook URL.
    pub url: String,
    /// The signing secret, if the bot has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}
