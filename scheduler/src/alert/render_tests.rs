//! Unit tests of the alert renderer: escaping, time zones, excerpts and grouping.

use chrono::{TimeZone, Utc};

use super::*;
use crate::alert::EventKind;

fn item(event: EventKind) -> AlertItem {
    AlertItem {
        event,
        job_id: Some("job-1".into()),
        job_name: Some("nightly-report".into()),
        agent_id: Some("agent-a".into()),
        execution_id: Some("exec-1".into()),
        at: Utc.with_ymd_and_hms(2025, 3, 1, 2, 30, 0).unwrap(),
        timezone: "Asia/Shanghai".into(),
        error: "exit code 1".into(),
        output_excerpt: "line 1\nline 2".into(),
        link: Some("http://dash.example/executions/exec-1".into()),
    }
}

fn alert(items: Vec<AlertItem>) -> Alert {
    Alert {
        id: 7,
        title: "Job nightly-report failed".into(),
        items,
        lang: AlertLang::En,
    }
}

#[test]
fn html_escapes_every_value() {
    let mut i = item(EventKind::Failed);
    i.job_name = Some("<script>alert('x')</script>".into());
    i.error = "a & b \"quoted\"".into();
    i.output_excerpt = "</pre><img src=x onerror=alert(1)>".into();
    let mut a = alert(vec![i]);
    a.title = "<b>title</b>".into();
    let html = html(&a);
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>title"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("a &amp; b &quot;quoted&quot;"));
    assert!(html.contains("&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn javascript_links_are_not_rendered() {
    let mut i = item(EventKind::Failed);
    i.link = Some("javascript:alert(1)".into());
    let a = alert(vec![i]);
    assert!(!html(&a).contains("javascript:"));
    assert!(!text(&a).contains("javascript:"));
}

#[test]
fn times_are_shown_in_the_job_time_zone_and_utc() {
    let a = alert(vec![item(EventKind::Failed)]);
    let text = text(&a);
    assert!(
        text.contains("2025-03-01 10:30:00 CST (Asia/Shanghai) / 2025-03-01 02:30:00 UTC"),
        "{text}"
    );
    assert!(html(&a).contains("2025-03-01 10:30:00 CST (Asia/Shanghai)"));
}

#[test]
fn daylight_saving_abbreviation_follows_the_instant() {
    let mut i = item(EventKind::Failed);
    i.timezone = "Europe/Berlin".into();
    i.at = Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap();
    assert_eq!(local_time(&i), "2025-07-01 14:00:00 CEST (Europe/Berlin)");
    i.at = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
    assert_eq!(local_time(&i), "2025-01-01 13:00:00 CET (Europe/Berlin)");
}

#[test]
fn utc_jobs_and_unknown_zones_show_utc_once() {
    let mut i = item(EventKind::AgentOffline);
    i.timezone = "Not/AZone".into();
    assert_eq!(both_times(&i), "2025-03-01 02:30:00 UTC");
}

#[test]
fn tail_and_head_never_split_characters() {
    assert_eq!(tail_chars("任务失败了", 2), ("败了", true));
    assert_eq!(tail_chars("ab", 5), ("ab", false));
    assert_eq!(tail_chars("ab", 0), ("", true));
    assert_eq!(tail_chars("", 0), ("", false));
    assert_eq!(head_chars("任务失败了", 2), "任务");
    assert_eq!(head_chars("ab", 5), "ab");
}

#[test]
fn long_output_keeps_its_end() {
    let mut i = item(EventKind::Failed);
    i.output_excerpt = format!("{}THE END 任务失败", "x".repeat(1_000_000));
    let text = text(&alert(vec![i]));
    assert!(text.contains("Output (last 2000 characters):"));
    assert!(text.contains("THE END 任务失败\n-----"));
    assert!(text.len() < 10_000, "{}", text.len());
}

#[test]
fn grouped_alerts_list_items_up_to_the_cap() {
    let items: Vec<_> = (0..60)
        .map(|n| {
            let mut i = item(EventKind::Failed);
            i.job_name = Some(format!("job-{n}"));
            i
        })
        .collect();
    let a = alert(items);
    let text = text(&a);
    assert!(text.contains("60 events"));
    assert!(text.contains("Job: job-49\n"));
    assert!(!text.contains("Job: job-50\n"));
    assert!(text.contains("… and 10 more"));
    assert!(html(&a).contains("… and 10 more"));
}

#[test]
fn subject_is_one_short_line() {
    let mut a = alert(vec![item(EventKind::Failed)]);
    a.title = format!("line one\r\nBcc: evil@example.com {}", "长".repeat(500));
    let s = subject(&a);
    assert!(!s.contains('\n') && !s.contains('\r'));
    assert!(s.starts_with("[Crony] line one  Bcc:"));
    assert_eq!(s.chars().count(), "[Crony] ".len() + 200);
}

#[test]
fn empty_title_is_made_from_the_items() {
    let mut a = alert(vec![item(EventKind::Recovered)]);
    a.title.clear();
    assert_eq!(subject(&a), "[Crony] Recovered: nightly-report");
    assert!(is_good_news(&a));
    a.items.push(item(EventKind::Failed));
    assert_eq!(subject(&a), "[Crony] 2 events");
    assert!(!is_good_news(&a));
}

#[test]
fn a_chinese_alert_has_chinese_subject_labels_and_link() {
    let mut i = item(EventKind::Failed);
    i.output_excerpt = "x".repeat(3_000);
    let mut a = alert(vec![i]);
    a.lang = AlertLang::ZhCn;
    a.title = a.lang.title(&a.items[0]);
    assert_eq!(subject(&a), "[Crony] 任务 nightly-report 执行失败");
    let text = text(&a);
    for phrase in [
        "执行失败\n",
        "任务: nightly-report\n",
        "执行器: agent-a\n",
        "时间: 2025-03-01 10:30:00 CST (Asia/Shanghai)",
        "错误: exit code 1\n",
        "链接: http://dash.example/executions/exec-1\n",
        "输出（最后 2000 个字符）:\n",
    ] {
        assert!(text.contains(phrase), "{phrase:?} not in\n{text}");
    }
    assert!(!text.contains("Job:") && !text.contains("Error:"), "{text}");
    let html = html(&a);
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(html.contains("<th align=\"left\">任务</th>"), "{html}");
    assert!(html.contains(">在控制台中打开</a>"), "{html}");

    let mut grouped = alert(vec![item(EventKind::Failed), item(EventKind::Recovered)]);
    grouped.lang = AlertLang::ZhCn;
    grouped.title.clear();
    assert_eq!(subject(&grouped), "[Crony] 2 个事件");
    assert!(text_with(&grouped, &Limits::EMAIL).contains("1. 执行失败\n"));
}

#[test]
fn english_stays_the_default_wording() {
    let a = alert(vec![item(EventKind::Failed)]);
    let text = text(&a);
    assert!(text.contains("Job: nightly-report\n") && text.contains("Error: exit code 1\n"));
    assert!(html(&a).contains("<html lang=\"en\">"));
    // Stored alerts from before languages existed read as English.
    let old: Alert = serde_json::from_str(r#"{"id": 1, "title": "t", "items": []}"#).unwrap();
    assert_eq!(old.lang, AlertLang::En);
    assert!(!serde_json::to_string(&a).unwrap().contains("lang"));
}
