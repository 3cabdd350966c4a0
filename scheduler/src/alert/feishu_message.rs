//! The JSON a Feishu custom bot accepts, as serde structs: an interactive card (the readable
//! form) or plain text, built from an [`Alert`] within Feishu's size limits, in its language.

use serde::Serialize;

use super::Alert;
use super::lang::Fact;
use super::render::{self, Limits};

/// The body POSTed to the bot webhook. `timestamp` and `sign` are present only when the bot
/// has a signing secret.
#[derive(Debug, Clone, Serialize)]
pub struct FeishuMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign: Option<String>,
    #[serde(flatten)]
    pub body: MessageBody,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "msg_type", rename_all = "snake_case")]
pub enum MessageBody {
    Text { content: TextContent },
    Interactive { card: Card },
}

#[derive(Debug, Clone, Serialize)]
pub struct TextContent {
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub config: CardConfig,
    pub header: CardHeader,
    pub elements: Vec<Element>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardConfig {
    pub wide_screen_mode: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardHeader {
    pub title: CardText,
    /// Header colour: `red` for trouble, `green` for good news.
    pub template: &'static str,
}

/// Text in a card. Values from users (job names, errors, outputs) go in `plain_text`, which
/// Feishu shows verbatim, so nothing in them can be read as markup or an @-mention.
#[derive(Debug, Clone, Serialize)]
pub struct CardText {
    pub tag: &'static str,
    pub content: String,
}

impl CardText {
    pub fn plain(content: impl Into<String>) -> Self {
        CardText {
            tag: "plain_text",
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub is_short: bool,
    pub text: CardText,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "tag", rename_all = "snake_case")]
pub enum Element {
    Div {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<CardText>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Field>,
    },
    Markdown {
        content: String,
    },
    Hr,
    Action {
        actions: Vec<Button>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Button {
    pub tag: &'static str,
    pub text: CardText,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

fn div_text(content: String) -> Element {
    Element::Div {
        text: Some(CardText::plain(content)),
        fields: Vec::new(),
    }
}

/// The output as a code block when that is safe, else as plain text. Inside a markdown
/// fence a run of three backticks would end the block early and let the rest be read as
/// markup (`<at id=all>` pings everyone), and Feishu documents no escape for that.
fn output_element(output: &str) -> Element {
    if output.contains("```") || output.contains('<') {
        div_text(output.to_owned())
    } else {
        Element::Markdown {
            content: format!("```\n{output}\n```"),
        }
    }
}

/// A group shows less per item (no outputs, short errors) so that the whole message stays
/// under Feishu's request size limit.
fn limits(alert: &Alert) -> Limits {
    if alert.items.len() <= 1 {
        Limits::CHAT
    } else {
        Limits {
            output_chars: 0,
            error_chars: 200,
            ..Limits::CHAT
        }
    }
}

pub fn card(alert: &Alert) -> Card {
    let limits = limits(alert);
    let lang = alert.lang;
    let mut elements = Vec::new();
    for (n, item) in alert.items.iter().take(limits.max_items).enumerate() {
        if n > 0 {
            elements.push(Element::Hr);
        }
        let mut fields = vec![Field {
            is_short: false,
            text: CardText::plain(lang.event_label(item.event)),
        }];
        for (fact, value) in render::facts(item) {
            // The UTC time is noise in a chat message; the job's own zone is what matters.
            let value = if fact == Fact::Time {
                render::local_time(item)
            } else {
                value
            };
            fields.push(Field {
                is_short: true,
                text: CardText::plain(format!("{}: {value}", lang.fact(fact))),
            });
        }
        elements.push(Element::Div { text: None, fields });
        if !item.error.is_empty() {
            let error = render::head_chars(&item.error, limits.error_chars);
            let cut = if error.len() < item.error.len() {
                " …"
            } else {
                ""
            };
            elements.push(div_text(format!("{}: {error}{cut}", lang.error())));
        }
        if let Some((output, label)) = render::output_excerpt(item, &limits, lang) {
            elements.push(div_text(label));
            elements.push(output_element(output));
        }
        if let Some(link) = render::safe_link(item.link.as_deref()) {
            elements.push(Element::Action {
                actions: vec![Button {
                    tag: "button",
                    text: CardText::plain(lang.open_dashboard()),
                    url: link.to_owned(),
                    kind: "primary",
                }],
            });
        }
    }
    if let Some(more) = alert
        .items
        .len()
        .checked_sub(limits.max_items)
        .filter(|m| *m > 0)
    {
        elements.push(div_text(lang.and_more(more)));
    }
    Card {
        config: CardConfig {
            wide_screen_mode: true,
        },
        header: CardHeader {
            title: CardText::plain(render::headline(alert)),
            template: if render::is_good_news(alert) {
                "green"
            } else {
                "red"
            },
        },
        elements,
    }
}

pub fn text(alert: &Alert) -> TextContent {
    TextContent {
        text: render::text_with(alert, &limits(alert)),
    }
}
