//! `CRONY_CALLBACK_ALLOW` for the addresses a job makes Crony call: its target (HTTP URL, gRPC
//! endpoint, called by the agent) and its Feishu webhooks (called by the scheduler).

use crony_common::callback_allow::{CallbackAllow, refuse_url_str};

use super::job::{FieldError, JobSpec, Target, bad};

impl JobSpec {
    /// Each host must be allowed. Names are judged by name here (no DNS at the API); a name
    /// the list leaves to its addresses passes, and whoever connects checks the addresses it
    /// connects to (the agent for targets, the alert client for webhooks).
    pub fn check_callback_allow(&self, allow: &CallbackAllow) -> Result<(), FieldError> {
        let target = match &self.target {
            Target::Http { url, .. } => Some(("target.url".to_owned(), url)),
            Target::Grpc { endpoint, .. } => Some(("target.endpoint".to_owned(), endpoint)),
            Target::Shell { .. } => None,
        };
        let hooks = self
            .alerts
            .feishu_webhooks
            .iter()
            .enumerate()
            .map(|(i, hook)| (format!("alerts.feishu_webhooks[{i}].url"), &hook.url));
        for (field, raw) in target.into_iter().chain(hooks) {
            if let Some(refusal) = refuse_url_str(allow, raw) {
                return Err(bad(&field, refusal.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::job::{AlertSpec, FeishuWebhook};

    use super::*;

    fn job(url: &str, hooks: &[&str]) -> JobSpec {
        let mut spec: JobSpec = serde_json::from_value(serde_json::json!({
            "name": "j", "schedule": "* * * * * *",
            "target": {"kind": "http", "url": url},
        }))
        .unwrap();
        spec.alerts = AlertSpec {
            feishu_webhooks: hooks
                .iter()
                .map(|u| FeishuWebhook {
                    url: (*u).to_owned(),
                    secret: None,
                })
                .collect(),
            ..AlertSpec::default()
        };
        spec
    }

    #[test]
    fn targets_and_feishu_webhooks_are_checked_and_named() {
        let allow = CallbackAllow::parse("api.example.com,open.feishu.cn").unwrap();
        let ok = job(
            "https://api.example.com/run",
            &["https://open.feishu.cn/open-apis/bot/v2/hook/t"],
        );
        assert_eq!(ok.check_callback_allow(&allow), Ok(()));
        let e = job("http://169.254.169.254/", &[])
            .check_callback_allow(&allow)
            .unwrap_err();
        assert_eq!(e.field, "target.url");
        let e = job(
            "https://api.example.com/run",
            &["https://open.feishu.cn/x", "http://127.0.0.3:8080/hook"],
        )
        .check_callback_allow(&allow)
        .unwrap_err();
        assert_eq!(e.field, "alerts.feishu_webhooks[1].url");
        assert!(e.message.contains("CRONY_CALLBACK_ALLOW"), "{e:?}");
    }
}
