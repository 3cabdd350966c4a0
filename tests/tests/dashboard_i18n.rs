//! The dashboard's two message tables (`web/static/js/i18n/en.js` and `zh-CN.js`) stay
//! complete: every key is in both, with the same `{placeholders}`; every key the pages ask
//! for (`t('…')`, `data-i18n="…"`) is in them; every API error code has its message. Read
//! from the files, without a browser, so a forgotten translation fails in seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

/// `'key': 'text',` lines of a table, as key → text. The tables keep one entry per line so
/// that this reader needs no JavaScript parser.
fn table(name: &str) -> BTreeMap<String, String> {
    let path = web().join("static/js/i18n").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut entries = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix('\'') else {
            continue;
        };
        let (key, value) = rest
            .split_once("': ")
            .unwrap_or_else(|| panic!("{name}:{}: not a 'key': 'text' line", n + 1));
        let value = value.trim_end_matches(',');
        let previous = entries.insert(key.to_owned(), value[1..value.len() - 1].to_owned());
        assert!(previous.is_none(), "{name}:{}: {key} twice", n + 1);
    }
    assert!(
        entries.len() > 100,
        "{name}: only {} entries",
        entries.len()
    );
    entries
}

/// The `{name}` placeholders of a message.
fn placeholders(text: &str) -> BTreeSet<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// Every literal key `t('…')` asks for in `text`.
fn asked(text: &str, call: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(call) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + call.len()..];
        // `get('/jobs')` and `x.t('…')` are not the message function.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$') {
            continue;
        }
        if let Some(end) = rest.find(['\'', '"']) {
            keys.push(rest[..end].to_owned());
        }
    }
    keys
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![web().join("index.html")];
    for dir in ["static/js", "static/js/pages"] {
        for entry in std::fs::read_dir(web().join(dir)).expect("web/static/js") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "js") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            (p, text)
        })
        .collect()
}

#[test]
fn both_languages_have_the_same_keys_and_placeholders() {
    let en = table("en.js");
    let zh = table("zh-CN.js");
    let only_en: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
    let only_zh: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(only_en.is_empty(), "missing from zh-CN.js: {only_en:?}");
    assert!(only_zh.is_empty(), "missing from en.js: {only_zh:?}");
    for (key, text) in &en {
        assert_eq!(
            placeholders(text),
            placeholders(&zh[key]),
            "{key}: en {text:?} and zh-CN {:?} fill different placeholders",
            zh[key]
        );
    }
    // A Chinese table that is English in disguise is no translation: most entries have CJK.
    let chinese = zh
        .values()
        .filter(|t| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
        .count();
    assert!(chinese * 10 > zh.len() * 8, "{chinese} of {}", zh.len());
}

#[test]
fn every_key_the_pages_use_is_in_the_tables() {
    let en = table("en.js");
    let mut used = BTreeSet::new();
    for (path, text) in sources() {
        let keys = [
            asked(&text, "t('"),
            asked(&text, "data-i18n=\""),
            asked(&text, "data-i18n-label=\""),
        ]
        .concat();
        for key in keys {
            assert!(
                en.contains_key(&key),
                "{path:?} uses {key:?}, not in the tables"
            );
            used.insert(key);
        }
    }
    assert!(used.len() > 200, "only {} keys found in use", used.len());
    assert!(used.contains("nav.jobs") && used.contains("login.wrong"));
}

#[test]
fn every_api_error_code_has_a_message() {
    let en = table("en.js");
    let error_rs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scheduler/src/error.rs");
    let text = std::fs::read_to_string(error_rs).expect("scheduler/src/error.rs");
    let codes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ErrorCode::"))
        .filter_map(|l| l.split_once("=> \"").map(|(_, code)| code))
        .filter_map(|code| code.split_once('"').map(|(code, _)| code))
        .collect();
    assert!(codes.len() >= 10, "{codes:?}");
    for code in codes {
        assert!(
            en.contains_key(&format!("error.{code}")),
            "API error code {code} has no error.{code} message"
        );
    }
}
