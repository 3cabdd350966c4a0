//! A job's secrets (values named in `secret_headers`, `secret_metadata`, `secret_env`, Feishu
//! signing secrets): where each one sits, the placeholder the API shows instead, and what a
//! `PUT` that sends the placeholder back keeps — only for the destination it was stored for.

use std::collections::{BTreeMap, BTreeSet};

use super::job::{FeishuWebhook, FieldError, JobSpec, REDACTED, Target, bad};

/// Where one secret sits: `key` matches it across a `PUT`, `field` names it in errors, and
/// `destination` is the URL it is sent to (headers, metadata) or signs for (Feishu); `None`
/// for environment variables, which never leave the agent.
struct SecretSlot<'a> {
    key: String,
    field: String,
    destination: Option<String>,
    /// A Feishu webhook by position: found when its URL changed (the path holds the bot's
    /// token, so a new token on the same origin is an edit of the same bot).
    position: Option<String>,
    value: &'a mut String,
}

/// A stored secret and the destination it was stored for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored<'a> {
    pub secret: &'a str,
    pub destination: Option<&'a str>,
}

/// Why the placeholder cannot stand for a stored secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeepRefusal {
    /// Nothing is stored at this place.
    NoneStored,
    /// The destination's scheme, host or port changed: the secret was given for another one.
    OriginChanged { from: String, to: String },
}

/// Whether a placeholder sent to `destination` may keep `stored`: only when the secret would
/// go to the same origin (scheme, host, port) it was stored for. A path or query change on the
/// same origin keeps it; a URL that does not parse has no origin and keeps nothing.
pub(crate) fn keep_placeholder<'a>(
    stored: Option<&Stored<'a>>,
    destination: Option<&str>,
) -> Result<&'a str, KeepRefusal> {
    let stored = stored.ok_or(KeepRefusal::NoneStored)?;
    match (stored.destination, destination) {
        (None, None) => Ok(stored.secret),
        (from, to) => {
            let from = from.unwrap_or_default();
            let to = to.unwrap_or_default();
            match (origin(from), origin(to)) {
                (Some(a), Some(b)) if a == b => Ok(stored.secret),
                (a, b) => Err(KeepRefusal::OriginChanged {
                    from: a.unwrap_or_else(|| from.to_owned()),
                    to: b.unwrap_or_else(|| to.to_owned()),
                }),
            }
        }
    }
}

/// `scheme://host:port` with the scheme's default port filled in; `None` without a host.
fn origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let port = url.port_or_known_default()?;
    Some(format!("{}://{host}:{port}", url.scheme()))
}

impl JobSpec {
    /// Every secret value, keyed by what it belongs to (`target.headers.Authorization`,
    /// `alerts.feishu_webhooks[<url>].secret`: webhooks by URL, since a `PUT` may reorder them).
    pub fn secrets_mut(&mut self) -> Vec<(String, &mut String)> {
        self.secret_slots()
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect()
    }

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        let mut out = Vec::new();
        match &mut self.target {
            Target::Http {
                url,
                headers,
                secret_headers,
                ..
            } => marked(
                headers,
                secret_headers,
                "target.headers",
                Some(url),
                &mut out,
            ),
            Target::Grpc {
                endpoint,
                metadata,
                secret_metadata,
                ..
            } => marked(
                metadata,
                secret_metadata,
                "target.metadata",
                Some(endpoint),
                &mut out,
            ),
            Target::Shell {
                env, secret_env, ..
            } => marked(env, secret_env, "target.env", None, &mut out),
        }
        for (i, FeishuWebhook { url, secret }) in self.alerts.feishu_webhooks.iter_mut().enumerate()
        {
            if let Some(secret) = secret.as_mut() {
                out.push(SecretSlot {
                    key: format!("alerts.feishu_webhooks[{url}].secret"),
                    field: format!("alerts.feishu_webhooks[{i}].secret"),
                    destination: Some(url.clone()),
                    position: Some(format!("alerts.feishu_webhooks#{i}.secret")),
                    value: secret,
                });
            }
        }
        out
    }

    /// The spec as the API and the audit log show it: every secret replaced by [`REDACTED`].
    pub fn redacted(&self) -> JobSpec {
        let mut spec = self.clone();
        for (_, value) in spec.secrets_mut() {
            *value = REDACTED.to_owned();
        }
        spec
    }

    /// A `PUT` may send back the placeholder a `GET` showed: it keeps the secret stored at the
    /// same place in `current`, as long as the secret would still go to the origin it was
    /// given for (see [`keep_placeholder`]); anything else is an error on the secret's field.
    pub fn keep_redacted(&mut self, current: &JobSpec) -> Result<(), FieldError> {
        let urls: BTreeSet<String> = self
            .alerts
            .feishu_webhooks
            .iter()
            .map(|h| h.url.clone())
            .collect();
        let mut current = current.clone();
        let mut stored: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for slot in current.secret_slots() {
            let entry = (slot.value.clone(), slot.destination.clone());
            // By position only where the stored URL is gone, so a reordered list still
            // matches by URL and one bot never gets another's secret.
            let moved = slot.destination.as_ref().is_some_and(|d| !urls.contains(d));
            if let Some(position) = slot.position.filter(|_| moved) {
                stored.insert(position, entry.clone());
            }
            stored.insert(slot.key, entry);
        }
        for slot in self.secret_slots() {
            if slot.value != REDACTED {
                continue;
            }
            let found = stored
                .get(&slot.key)
                .or_else(|| slot.position.as_ref().and_then(|p| stored.get(p)))
                .map(|(secret, destination)| Stored {
                    secret,
                    destination: destination.as_deref(),
                });
            match keep_placeholder(found.as_ref(), slot.destination.as_deref()) {
                Ok(secret) => *slot.value = secret.to_owned(),
                Err(refusal) => return Err(bad(&slot.field, refusal_message(&refusal))),
            }
        }
        Ok(())
    }

    /// Whether any secret value is the placeholder (a `PUT` of what a `GET` showed).
    pub fn has_redacted(&mut self) -> bool {
        self.secrets_mut().iter().any(|(_, v)| *v == REDACTED)
    }
}

fn refusal_message(refusal: &KeepRefusal) -> String {
    match refusal {
        KeepRefusal::NoneStored => format!(
            "{REDACTED:?} stands for a stored secret, and there is none here: send the secret itself"
        ),
        KeepRefusal::OriginChanged { from, to } => format!(
            "{REDACTED:?} keeps a secret only for the scheme, host and port it was given for \
             ({from}), and this would send it to {to}: send the secret again with the new \
             address, or keep the old scheme, host and port"
        ),
    }
}

/// The values of `map` whose keys are among `names` (case-insensitively, as header names are).
fn marked<'a>(
    map: &'a mut BTreeMap<String, String>,
    names: &[String],
    field: &str,
    destination: Option<&String>,
    out: &mut Vec<SecretSlot<'a>>,
) {
    for (key, value) in map.iter_mut() {
        if names.iter().any(|n| n.eq_ignore_ascii_case(key)) {
            let at = format!("{field}.{key}");
            out.push(SecretSlot {
                key: at.clone(),
                field: at,
                destination: destination.cloned(),
                position: None,
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored<'a>(secret: &'a str, destination: Option<&'a str>) -> Stored<'a> {
        Stored {
            secret,
            destination,
        }
    }

    #[test]
    fn the_same_origin_keeps_the_secret() {
        let s = stored("s3cret", Some("https://api.example.com/v1/run?x=1"));
        for to in [
            "https://api.example.com/v1/run?x=1",
            "https://api.example.com/v2/other",
            "https://API.example.com:443/",
        ] {
            assert_eq!(keep_placeholder(Some(&s), Some(to)), Ok("s3cret"), "{to}");
        }
        // Environment variables have no destination.
        assert_eq!(keep_placeholder(Some(&stored("e", None)), None), Ok("e"));
    }

    #[test]
    fn another_scheme_host_or_port_needs_the_secret_again() {
        let s = stored("s3cret", Some("https://api.example.com/run"));
        for to in [
            "http://api.example.com/run",
            "https://evil.example.com/run",
            "https://api.example.com:8443/run",
            "not a url",
        ] {
            let refusal = keep_placeholder(Some(&s), Some(to)).unwrap_err();
            assert!(
                matches!(refusal, KeepRefusal::OriginChanged { .. }),
                "{to}: {refusal:?}"
            );
        }
        let KeepRefusal::OriginChanged { from, to } =
            keep_placeholder(Some(&s), Some("https://evil.example.com/x")).unwrap_err()
        else {
            unreachable!()
        };
        assert_eq!(
            (from.as_str(), to.as_str()),
            (
                "https://api.example.com:443",
                "https://evil.example.com:443"
            )
        );
    }

    #[test]
    fn nothing_stored_keeps_nothing() {
        assert_eq!(
            keep_placeholder(None, Some("https://a.example/")),
            Err(KeepRefusal::NoneStored)
        );
    }
}
