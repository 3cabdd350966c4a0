//! The languages alerts are written in (`CRONY_ALERT_LANG`, a job's `alert_lang`) and every
//! phrase of an email or Feishu message in each of them. Pure tables: the renderers ask the
//! alert's language for their words, so adding a language is adding one arm per phrase.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AlertItem, EventKind};
use crate::domain::ids::{AgentId, JobId};

/// A language of alert messages. English is the default: the cluster setting and a job's
/// override are both optional.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum AlertLang {
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
}

/// The labelled facts of an alert item, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    Job,
    JobId,
    Agent,
    Execution,
    Time,
}

impl AlertLang {
    pub const ALL: [AlertLang; 2] = [AlertLang::En, AlertLang::ZhCn];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertLang::En => "en",
            AlertLang::ZhCn => "zh-CN",
        }
    }

    /// `en` or `zh-CN` (any case, `_` for `-`): what an operator types in a setting.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let wanted = raw.trim().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| format!("{raw:?} is not a known language (use en or zh-CN)"))
    }

    pub fn is_en(&self) -> bool {
        *self == AlertLang::En
    }

    fn zh(self) -> bool {
        self == AlertLang::ZhCn
    }

    /// Human words for an event.
    pub fn event_label(self, event: EventKind) -> &'static str {
        use EventKind as E;
        match (self, event) {
            (AlertLang::En, E::Failed) => "Failed",
            (AlertLang::En, E::TimedOut) => "Timed out",
            (AlertLang::En, E::Recovered) => "Recovered",
            (AlertLang::En, E::Lost) => "Lost with its agent",
            (AlertLang::En, E::Missed) => "Missed fires",
            (AlertLang::En, E::FailureRate) => "Failure rate above threshold",
            (AlertLang::En, E::Unassigned) => "No eligible agent",
            (AlertLang::En, E::AgentOffline) => "Agent offline",
            (AlertLang::En, E::AgentOnline) => "Agent back online",
            (AlertLang::En, E::Test) => "Test alert",
            (AlertLang::ZhCn, E::Failed) => "执行失败",
            (AlertLang::ZhCn, E::TimedOut) => "执行超时",
            (AlertLang::ZhCn, E::Recovered) => "已恢复",
            (AlertLang::ZhCn, E::Lost) => "随执行器丢失",
            (AlertLang::ZhCn, E::Missed) => "错过触发",
            (AlertLang::ZhCn, E::FailureRate) => "失败率超过阈值",
            (AlertLang::ZhCn, E::Unassigned) => "没有可用的执行器",
            (AlertLang::ZhCn, E::AgentOffline) => "执行器离线",
            (AlertLang::ZhCn, E::AgentOnline) => "执行器恢复在线",
            (AlertLang::ZhCn, E::Test) => "测试告警",
        }
    }

    pub fn fact(self, fact: Fact) -> &'static str {
        match (self.zh(), fact) {
            (false, Fact::Job) => "Job",
            (false, Fact::JobId) => "Job id",
            (false, Fact::Agent) => "Agent",
            (false, Fact::Execution) => "Execution",
            (false, Fact::Time) => "Time",
            (true, Fact::Job) => "任务",
            (true, Fact::JobId) => "任务 ID",
            (true, Fact::Agent) => "执行器",
            (true, Fact::Execution) => "执行",
            (true, Fact::Time) => "时间",
        }
    }

    pub fn error(self) -> &'static str {
        if self.zh() { "错误" } else { "Error" }
    }

    pub fn link(self) -> &'static str {
        if self.zh() { "链接" } else { "Link" }
    }

    pub fn output(self) -> &'static str {
        if self.zh() { "输出" } else { "Output" }
    }

    /// "Output (last 2000 characters)".
    pub fn output_cut(self, chars: usize) -> String {
        if self.zh() {
            format!("输出（最后 {chars} 个字符）")
        } else {
            format!("Output (last {chars} characters)")
        }
    }

    pub fn open_dashboard(self) -> &'static str {
        if self.zh() {
            "在控制台中打开"
        } else {
            "Open in the dashboard"
        }
    }

    pub fn subject_prefix(self) -> &'static str {
        "[Crony]"
    }

    pub fn untitled(self) -> &'static str {
        if self.zh() {
            "Crony 告警"
        } else {
            "Crony alert"
        }
    }

    pub fn events(self, n: usize) -> String {
        if self.zh() {
            format!("{n} 个事件")
        } else {
            format!("{n} events")
        }
    }

    pub fn and_more(self, n: usize) -> String {
        if self.zh() {
            format!("… 还有 {n} 条")
        } else {
            format!("… and {n} more")
        }
    }

    /// A one-line title for one item.
    pub fn title(self, item: &AlertItem) -> String {
        let job = item
            .job_name
            .as_deref()
            .or(item.job_id.as_ref().map(JobId::as_str))
            .unwrap_or("?");
        let agent = item.agent_id.as_ref().map_or("?", AgentId::as_str);
        use EventKind as E;
        match (self, item.event) {
            (AlertLang::En, E::Failed) => format!("Job {job} failed"),
            (AlertLang::En, E::TimedOut) => format!("Job {job} timed out"),
            (AlertLang::En, E::Recovered) => format!("Job {job} recovered"),
            (AlertLang::En, E::Lost) => format!("Job {job}: execution lost with its agent"),
            (AlertLang::En, E::Missed) => format!("Job {job}: fire missed"),
            (AlertLang::En, E::FailureRate) => format!("Job {job}: failure rate over threshold"),
            (AlertLang::En, E::Unassigned) => format!("Job {job} has no eligible agent"),
            (AlertLang::En, E::AgentOffline) => format!("Agent {agent} went offline"),
            (AlertLang::En, E::AgentOnline) => format!("Agent {agent} is back online"),
            (AlertLang::En, E::Test) => "Crony test alert".to_owned(),
            (AlertLang::ZhCn, E::Failed) => format!("任务 {job} 执行失败"),
            (AlertLang::ZhCn, E::TimedOut) => format!("任务 {job} 执行超时"),
            (AlertLang::ZhCn, E::Recovered) => format!("任务 {job} 已恢复"),
            (AlertLang::ZhCn, E::Lost) => format!("任务 {job}：执行随执行器丢失"),
            (AlertLang::ZhCn, E::Missed) => format!("任务 {job}：错过触发"),
            (AlertLang::ZhCn, E::FailureRate) => format!("任务 {job}：失败率超过阈值"),
            (AlertLang::ZhCn, E::Unassigned) => format!("任务 {job} 没有可用的执行器"),
            (AlertLang::ZhCn, E::AgentOffline) => format!("执行器 {agent} 已离线"),
            (AlertLang::ZhCn, E::AgentOnline) => format!("执行器 {agent} 已恢复在线"),
            (AlertLang::ZhCn, E::Test) => "Crony 测试告警".to_owned(),
        }
    }

    /// The title with the count of repeats throttling held back since `since`.
    pub fn with_suppressed(
        self,
        title: &str,
        suppressed: u32,
        since: Option<DateTime<Utc>>,
    ) -> String {
        let since = since.map(|s| s.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        match (self.zh(), suppressed, since) {
            (_, 0, _) => title.to_owned(),
            (false, n, Some(since)) => format!("{title} (and {n} more since {since})"),
            (false, n, None) => format!("{title} (and {n} more)"),
            (true, n, Some(since)) => format!("{title}（自 {since} 起另有 {n} 条）"),
            (true, n, None) => format!("{title}（另有 {n} 条）"),
        }
    }

    /// The title of several alerts sent as one message.
    pub fn group_title(self, total: usize, jobs: usize, listed: Option<usize>) -> String {
        let mut title = if self.zh() {
            format!("{total} 条告警")
        } else {
            format!("{total} alerts")
        };
        match (self.zh(), jobs) {
            (_, 0) => {}
            (false, n) => title.push_str(&format!(" for {n} jobs")),
            (true, n) => title.push_str(&format!("，涉及 {n} 个任务")),
        }
        match (self.zh(), listed) {
            (_, None) => {}
            (false, Some(n)) => title.push_str(&format!(" (first {n} listed)")),
            (true, Some(n)) => title.push_str(&format!("（列出前 {n} 条）")),
        }
        title
    }

    /// Why a job has no agent, in words.
    pub fn unassigned_reason(self) -> &'static str {
        if self.zh() {
            "没有在线执行器符合该任务的分配条件（标签、固定执行器、Shell），或符合的都已排空"
        } else {
            "no live agent matches the job's placement (labels, pinned agent, shell) or every \
             match is drained"
        }
    }

    /// The failure-rate rule's note.
    pub fn failure_rate_note(self, failed: usize, window: u32, threshold: f64) -> String {
        let percent = threshold * 100.0;
        if self.zh() {
            format!("最近 {window} 次执行中有 {failed} 次失败（阈值 {percent:.0} %）")
        } else {
            format!("{failed} of the last {window} executions failed (threshold {percent:.0} %)")
        }
    }

    /// The body of a test alert.
    pub fn test_body(self) -> &'static str {
        if self.zh() {
            "这是一条来自 Crony 的测试告警。能看到它，说明该渠道工作正常。"
        } else {
            "This is a test alert from Crony. If you can read it, the channel works."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_operators_type_and_names_the_choices() {
        assert_eq!(AlertLang::parse("en"), Ok(AlertLang::En));
        assert_eq!(AlertLang::parse("zh-CN"), Ok(AlertLang::ZhCn));
        assert_eq!(AlertLang::parse("zh_cn"), Ok(AlertLang::ZhCn));
        let e = AlertLang::parse("fr").unwrap_err();
        assert!(e.contains("en") && e.contains("zh-CN"), "{e}");
        assert_eq!(AlertLang::default(), AlertLang::En);
    }

    #[test]
    fn the_api_spelling_is_the_setting_spelling() {
        for lang in AlertLang::ALL {
            let json = serde_json::to_string(&lang).unwrap();
            assert_eq!(json, format!("\"{}\"", lang.as_str()));
            assert_eq!(serde_json::from_str::<AlertLang>(&json).unwrap(), lang);
        }
        assert!(serde_json::from_str::<AlertLang>("\"fr\"").is_err());
    }

    #[test]
    fn group_and_suppressed_titles_read_in_each_language() {
        assert_eq!(
            AlertLang::En.group_title(60, 60, Some(50)),
            "60 alerts for 60 jobs (first 50 listed)"
        );
        assert_eq!(
            AlertLang::ZhCn.group_title(60, 60, Some(50)),
            "60 条告警，涉及 60 个任务（列出前 50 条）"
        );
        assert_eq!(
            AlertLang::ZhCn.with_suppressed("任务 x 执行失败", 3, None),
            "任务 x 执行失败（另有 3 条）"
        );
        assert_eq!(AlertLang::En.with_suppressed("t", 0, None), "t");
    }
}
