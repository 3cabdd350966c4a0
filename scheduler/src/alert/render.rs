//! Turns an [`Alert`] into what people read: a subject line, a plain-text body and an HTML
//! body (every value escaped), with times in the job's time zone and in UTC, in the alert's
//! language (its words are in `lang.rs`).

use std::fmt::Write as _;

use super::lang::Fact;
use super::{Alert, AlertItem, AlertLang};

/// How much of an alert a channel shows. Email can carry a lot; chat messages are capped
/// by the chat service (Feishu rejects request bodies over ~20 KB), so they show less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Items listed in full; the rest are summarised as "and N more".
    pub max_items: usize,
    /// Characters kept from the *end* of an output (the end is where the error usually is).
    pub output_chars: usize,
    /// Characters kept from the start of an error message.
    pub error_chars: usize,
}

impl Limits {
    pub const EMAIL: Limits = Limits {
        max_items: 50,
        output_chars: 2_000,
        error_chars: 4_000,
    };
    pub const CHAT: Limits = Limits {
        max_items: 20,
        output_chars: 1_500,
        error_chars: 1_000,
    };
}

/// Subjects stay short and on one line: mail clients cut them anyway, and a newline in a
/// title must not be able to start a new header.
const SUBJECT_CHARS: usize = 200;

/// Whether the whole alert is good news (every item is); one failure makes it bad news.
pub fn is_good_news(alert: &Alert) -> bool {
    !alert.items.is_empty() && alert.items.iter().all(|i| i.event.is_good_news())
}

/// The title, or one made from the items when the pipeline left it empty.
pub fn headline(alert: &Alert) -> String {
    let title = one_line(&alert.title);
    if !title.is_empty() {
        return title;
    }
    let lang = alert.lang;
    match alert.items.as_slice() {
        [] => lang.untitled().to_owned(),
        [item] => match &item.job_name {
            Some(job) => format!("{}: {}", lang.event_label(item.event), one_line(job)),
            None => lang.event_label(item.event).to_owned(),
        },
        items => lang.events(items.len()),
    }
}

pub fn subject(alert: &Alert) -> String {
    format!(
        "{} {}",
        alert.lang.subject_prefix(),
        head_chars(&headline(alert), SUBJECT_CHARS)
    )
}

/// The job's local time with its zone, e.g. `2025-03-01 10:30:00 CST (Asia/Shanghai)`.
pub fn local_time(item: &AlertItem) -> String {
    let tz = item.tz();
    format!(
        "{} ({})",
        item.at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
        tz.name()
    )
}

pub fn utc_time(item: &AlertItem) -> String {
    item.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Local time and UTC, or just UTC when the job runs in UTC.
pub fn both_times(item: &AlertItem) -> String {
    if item.tz() == chrono_tz::Tz::UTC {
        utc_time(item)
    } else {
        format!("{} / {}", local_time(item), utc_time(item))
    }
}

/// The last `max` characters of `s` (never splitting a character), and whether it was cut.
pub fn tail_chars(s: &str, max: usize) -> (&str, bool) {
    if max == 0 {
        return ("", !s.is_empty());
    }
    // Walks back from the end only: a 1 MB output costs `max` steps, not a megabyte.
    match s.char_indices().rev().nth(max - 1) {
        Some((start, _)) => (&s[start..], start > 0),
        None => (s, false),
    }
}

/// The first `max` characters of `s` (never splitting a character).
pub fn head_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Title-like values on one line: control characters (newlines included) become spaces.
pub fn one_line(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    replaced.trim().to_owned()
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Only web links become clickable: a `javascript:` link in an alert would be an attack.
pub fn safe_link(link: Option<&str>) -> Option<&str> {
    link.filter(|l| {
        let lower = l.trim_start().to_ascii_lowercase();
        lower.starts_with("https://") || lower.starts_with("http://")
    })
}

/// The labelled facts of an item that are present, in display order.
pub fn facts(item: &AlertItem) -> Vec<(Fact, String)> {
    let mut facts = Vec::new();
    if let Some(job) = &item.job_name {
        facts.push((Fact::Job, job.clone()));
    }
    if let Some(id) = &item.job_id {
        facts.push((Fact::JobId, id.to_string()));
    }
    if let Some(agent) = &item.agent_id {
        facts.push((Fact::Agent, agent.to_string()));
    }
    if let Some(exec) = &item.execution_id {
        facts.push((Fact::Execution, exec.to_string()));
    }
    facts.push((Fact::Time, both_times(item)));
    facts
}

/// The output excerpt cut to `limits`, with the note a reader needs when it was cut.
/// The output excerpt cut to `limits`, with the label a reader needs ("Output", or "Output
/// (last N characters)" when it was cut).
pub fn output_excerpt<'a>(
    item: &'a AlertItem,
    limits: &Limits,
    lang: AlertLang,
) -> Option<(&'a str, String)> {
    if item.output_excerpt.is_empty() || limits.output_chars == 0 {
        return None;
    }
    let (tail, cut) = tail_chars(&item.output_excerpt, limits.output_chars);
    let label = if cut {
        lang.output_cut(limits.output_chars)
    } else {
        lang.output().to_owned()
    };
    Some((tail, label))
}

fn error_text<'a>(item: &'a AlertItem, limits: &Limits) -> (&'a str, bool) {
    let head = head_chars(&item.error, limits.error_chars);
    (head, head.len() < item.error.len())
}

pub fn text(alert: &Alert) -> String {
    text_with(alert, &Limits::EMAIL)
}

pub fn text_with(alert: &Alert, limits: &Limits) -> String {
    let lang = alert.lang;
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "{}", headline(alert));
    let grouped = alert.items.len() > 1;
    if grouped {
        let _ = writeln!(out, "{}", lang.events(alert.items.len()));
    }
    for (n, item) in alert.items.iter().take(limits.max_items).enumerate() {
        out.push('\n');
        if grouped {
            let _ = writeln!(out, "{}. {}", n + 1, lang.event_label(item.event));
        } else {
            let _ = writeln!(out, "{}", lang.event_label(item.event));
        }
        for (fact, value) in facts(item) {
            let _ = writeln!(out, "{}: {value}", lang.fact(fact));
        }
        if !item.error.is_empty() {
            let (error, cut) = error_text(item, limits);
            let more = if cut { " …" } else { "" };
            let _ = writeln!(out, "{}: {error}{more}", lang.error());
        }
        if let Some(link) = safe_link(item.link.as_deref()) {
            let _ = writeln!(out, "{}: {link}", lang.link());
        }
        if let Some((output, label)) = output_excerpt(item, limits, lang) {
            let _ = writeln!(out, "{label}:\n-----\n{output}\n-----");
        }
    }
    if let Some(more) = alert
        .items
        .len()
        .checked_sub(limits.max_items)
        .filter(|m| *m > 0)
    {
        let _ = writeln!(out, "\n{}", lang.and_more(more));
    }
    out
}

pub fn html(alert: &Alert) -> String {
    html_with(alert, &Limits::EMAIL)
}

pub fn html_with(alert: &Alert, limits: &Limits) -> String {
    let lang = alert.lang;
    let colour = if is_good_news(alert) {
        "#1e8e3e"
    } else {
        "#d93025"
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif\">\n<h2 style=\"color:{colour}\">{title}</h2>\n",
        title = escape_html(&headline(alert)),
        lang = lang.as_str(),
    );
    if alert.items.len() > 1 {
        let _ = writeln!(
            out,
            "<p>{}</p>",
            escape_html(&lang.events(alert.items.len()))
        );
    }
    for item in alert.items.iter().take(limits.max_items) {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<table cellpadding=\"4\">",
            escape_html(lang.event_label(item.event))
        );
        for (fact, value) in facts(item) {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape_html(lang.fact(fact)),
                escape_html(&value)
            );
        }
        if !item.error.is_empty() {
            let (error, cut) = error_text(item, limits);
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{}</th><td style=\"white-space:pre-wrap\">{}{}</td></tr>",
                escape_html(lang.error()),
                escape_html(error),
                if cut { " …" } else { "" }
            );
        }
        out.push_str("</table>\n");
        if let Some(link) = safe_link(item.link.as_deref()) {
            let _ = writeln!(
                out,
                "<p><a href=\"{}\">{}</a></p>",
                escape_html(link),
                escape_html(lang.open_dashboard())
            );
        }
        if let Some((output, label)) = output_excerpt(item, limits, lang) {
            let _ = writeln!(
                out,
                "<p>{}</p>\n<pre style=\"background:#f4f4f4;padding:8px;white-space:pre-wrap\">{}</pre>",
                escape_html(&label),
                escape_html(output)
            );
        }
    }
    if let Some(more) = alert
        .items
        .len()
        .checked_sub(limits.max_items)
        .filter(|m| *m > 0)
    {
        let _ = writeln!(out, "<p>{}</p>", escape_html(&lang.and_more(more)));
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
