//! Validation of the job model: every rule names the field it guards, so a bad request gets a
//! 400 that says exactly what to fix.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::job::{
    FieldError, JobSpec, MAX_BLOB, MAX_DESCRIPTION, MAX_MANAGED_BY, MAX_NAME, MAX_RETRIES,
    MAX_TIMEOUT_SECS, Target, bad,
};
use super::schedule::Schedule;

impl JobSpec {
    /// Checks every field; on success returns the parsed schedule and time zone.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(Schedule, Tz), FieldError> {
        let name = self.name.trim();
        if name.is_empty() || name != self.name {
            return Err(bad(
                "name",
                "must be non-empty without leading or trailing spaces",
            ));
        }
        if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(bad(
                "name",
                format!("at most {MAX_NAME} characters, no control characters"),
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            return Err(bad(
                "description",
                format!("at most {MAX_DESCRIPTION} characters"),
            ));
        }
        if let Some(owner) = &self.managed_by {
            let printable = owner.bytes().all(|b| (0x21..0x7f).contains(&b));
            if owner.is_empty() || owner.len() > MAX_MANAGED_BY || !printable {
                return Err(bad(
                    "managed_by",
                    format!("1 to {MAX_MANAGED_BY} printable ASCII characters, no spaces"),
                ));
            }
        }
        let tz: Tz = self.timezone.parse().map_err(|_| {
            bad(
                "timezone",
                format!("{:?} is not an IANA time zone", self.timezone),
            )
        })?;
        let schedule = Schedule::parse(&self.schedule, tz, now).map_err(|m| bad("schedule", m))?;
        self.validate_target()?;
        self.validate_secret_names()?;
        if self.payload.len() > MAX_BLOB {
            return Err(bad("payload", format!("at most {MAX_BLOB} bytes")));
        }
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(bad(
                "timeout_secs",
                format!("must be 1 to {MAX_TIMEOUT_SECS}"),
            ));
        }
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.async_timeout_secs) {
            return Err(bad(
                "async_timeout_secs",
                format!("must be 1 to {MAX_TIMEOUT_SECS}"),
            ));
        }
        let r = &self.retry;
        if r.max_retries > MAX_RETRIES {
            return Err(bad("retry.max_retries", format!("at most {MAX_RETRIES}")));
        }
        if r.initial_secs > 86_400 {
            return Err(bad("retry.initial_secs", "at most 86400"));
        }
        if r.max_secs < r.initial_secs || r.max_secs > 86_400 {
            return Err(bad(
                "retry.max_secs",
                "must be at least initial_secs and at most 86400",
            ));
        }
        for (k, v) in &self.placement.labels {
            if crony_common::settings::parse_labels(&format!("{k}={v}")).is_err() {
                return Err(bad(
                    "placement.labels",
                    format!("{k:?}={v:?}: letters, digits, . _ - / only"),
                ));
            }
        }
        if let Some(id) = &self.placement.agent_id
            && (id.as_str().is_empty()
                || id.as_str().len() > 64
                || !id
                    .as_str()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(bad(
                "placement.agent_id",
                format!("{id:?} is not an agent id"),
            ));
        }
        for email in &self.alerts.emails {
            let ok = email
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.'));
            if !ok || email.len() > 254 || email.contains(char::is_whitespace) {
                return Err(bad(
                    "alerts.emails",
                    format!("{email:?} is not an email address"),
                ));
            }
        }
        for hook in &self.alerts.feishu_webhooks {
            http_url(&hook.url).map_err(|m| bad("alerts.feishu_webhooks.url", m))?;
            // The `alerts` table keeps the URL (never the secret) in 512 characters.
            if hook.url.len() > 500 {
                return Err(bad(
                    "alerts.feishu_webhooks.url",
                    "must be at most 500 characters",
                ));
            }
        }
        Ok((schedule, tz))
    }

    /// A one-shot job must be due later: an `@at` in the past would never fire. Editing a job
    /// whose instant is done without changing its schedule stays allowed (`before` is the
    /// stored spec; `None` for a new job). Resuming one is refused the same way.
    pub fn check_at_is_ahead(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        before: Option<&JobSpec>,
    ) -> Result<(), FieldError> {
        let Schedule::At(at) = schedule else {
            return Ok(());
        };
        let unchanged = before.is_some_and(|b| b.schedule == self.schedule && !self.enabled);
        if *at > now || unchanged {
            return Ok(());
        }
        Err(bad(
            "schedule",
            format!(
                "{} is in the past (now is {}): a one-shot job must be due later",
                self.schedule.trim(),
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ))
    }

    fn validate_target(&self) -> Result<(), FieldError> {
        match &self.target {
            Target::Http {
                method,
                url,
                headers,
                body,
                success_status,
                ..
            } => {
                const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
                if !METHODS.contains(&method.as_str()) {
                    return Err(bad(
                        "target.method",
                        format!("{method:?} must be one of {METHODS:?}"),
                    ));
                }
                http_url(url).map_err(|m| bad("target.url", m))?;
                for (name, value) in headers {
                    let valid_name = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
                    let valid_value = axum::http::HeaderValue::from_str(value).is_ok();
                    if !valid_name
                        || !valid_value
                        || name.to_ascii_lowercase().starts_with("x-crony-")
                    {
                        return Err(bad(
                            "target.headers",
                            format!("{name:?} is not a header Crony can send"),
                        ));
                    }
                }
                if body.len() > MAX_BLOB {
                    return Err(bad("target.body", format!("at most {MAX_BLOB} bytes")));
                }
                if success_status.is_some_and(|s| !(100..=599).contains(&s)) {
                    return Err(bad(
                        "target.success_status",
                        "must be an HTTP status, 100 to 599",
                    ));
                }
            }
            Target::Grpc {
                endpoint,
                method,
                metadata,
                ..
            } => {
                http_url(endpoint).map_err(|m| bad("target.endpoint", m))?;
                let parts: Vec<&str> = method.split('/').collect();
                let ident = |s: &str| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._".contains(c))
                };
                if parts.len() != 3 || !parts[0].is_empty() || !ident(parts[1]) || !ident(parts[2])
                {
                    return Err(bad(
                        "target.method",
                        format!("{method:?} must look like /package.Service/Method"),
                    ));
                }
                for (key, value) in metadata {
                    let valid = tonic::metadata::AsciiMetadataKey::from_bytes(key.as_bytes())
                        .is_ok()
                        && !key.ends_with("-bin")
                        && value.parse::<tonic::metadata::AsciiMetadataValue>().is_ok();
                    if !valid {
                        return Err(bad(
                            "target.metadata",
                            format!("{key:?} is not valid gRPC metadata"),
                        ));
                    }
                }
            }
            Target::Shell {
                command,
                workdir,
                env,
                ..
            } => {
                if command.trim().is_empty() {
                    return Err(bad("target.command", "must not be empty"));
                }
                if command.len() > MAX_BLOB {
                    return Err(bad("target.command", format!("at most {MAX_BLOB} bytes")));
                }
                if workdir.as_ref().is_some_and(|w| !w.starts_with('/')) {
                    return Err(bad("target.workdir", "must be an absolute path"));
                }
                for key in env.keys() {
                    let mut chars = key.chars();
                    let valid = chars
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        return Err(bad(
                            "target.env",
                            format!("{key:?} is not an environment variable name"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Each name marked secret must be one of the target's headers, metadata keys or
    /// variables, or the mark protects nothing.
    fn validate_secret_names(&self) -> Result<(), FieldError> {
        let (map, names, field) = match &self.target {
            Target::Http {
                headers,
                secret_headers,
                ..
            } => (headers, secret_headers, "target.secret_headers"),
            Target::Grpc {
                metadata,
                secret_metadata,
                ..
            } => (metadata, secret_metadata, "target.secret_metadata"),
            Target::Shell {
                env, secret_env, ..
            } => (env, secret_env, "target.secret_env"),
        };
        for name in names {
            if !map.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(bad(
                    field,
                    format!("{name:?} is not one of the target's names, so it cannot be secret"),
                ));
            }
        }
        Ok(())
    }
}

fn http_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{raw:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(())
}
