//! Reading `deploy/`: its files, YAML documents, Dockerfile stages, and the binaries' `--help`
//! (where the real settings and defaults are), for `deploy_kit.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crony_tests::process::crony_command;
use serde_norway::Value;

pub const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
pub const TARGET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target");
pub const UNITS: [&str; 2] = ["crony-scheduler.service", "crony-agent.service"];
/// After the grace the agent flushes its spool for up to 5 s, then revokes its lease.
pub const SPOOL_FLUSH_SECS: u64 = 5;

/// Every file under deploy/ as (path relative to deploy/, text), sorted.
pub fn deploy_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("deploy/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let rel = path.strip_prefix(DEPLOY).expect("under deploy/").display();
                let text = std::fs::read_to_string(&path).expect("text");
                out.push((rel.to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(DEPLOY), &mut out);
    out.sort();
    out
}

pub fn read(rel: &str) -> String {
    let path = Path::new(DEPLOY).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of a file (split on `---` lines), merge keys (`<<:`) applied.
pub fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    let docs = text.split("\n---\n").filter(|d| d.lines().any(is_content));
    let parse = |doc: &str| -> Value {
        let mut v: Value = serde_norway::from_str(doc)
            .unwrap_or_else(|e| panic!("deploy/{rel} is not valid YAML: {e}"));
        v.apply_merge().expect("merge keys apply");
        v
    };
    docs.map(parse).collect()
}

pub fn is_content(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty() && !line.starts_with('#') && line != "---"
}

/// The first document of `kind` in a file.
pub fn first(rel: &str, kind: &str) -> Value {
    let doc = yaml_docs(rel).into_iter().find(|d| d["kind"] == kind);
    doc.unwrap_or_else(|| panic!("deploy/{rel} has no {kind}"))
}

pub fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

pub fn strs(v: &Value) -> Vec<&str> {
    seq(v).iter().filter_map(Value::as_str).collect()
}

/// The build of `binary` a test can count on: `cargo test` builds this package's copies
/// (`crony-test-scheduler` runs `crony_scheduler::main_entry`, as `crony-scheduler` does), not
/// the other packages' binaries.
pub fn built(binary: &str) -> String {
    binary.replacen("crony-", "crony-test-", 1)
}

/// `--help` of a binary, whitespace collapsed (clap wraps lines anywhere).
pub fn help(binary: &str) -> String {
    let out = crony_command(&built(binary))
        .arg("--help")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{binary} --help failed: {out:?}");
    let text = String::from_utf8(out.stdout).expect("help is UTF-8");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `[default: …]` that `--help` prints for a flag.
pub fn default_of(help: &str, flag: &str) -> String {
    let at = help.find(&format!("{flag} <")).expect(flag);
    let rest = &help[at + help[at..].find("[default: ").expect("a default") + 10..];
    rest[..rest.find(']').expect("]")].to_owned()
}

pub fn port_of(addr: &str) -> u64 {
    let port = addr.rsplit(':').next().unwrap_or("");
    port.parse().expect(addr)
}

pub fn secs(raw: &str) -> u64 {
    raw.trim_end_matches('s').parse().expect(raw)
}

/// The longest run of `[A-Za-z0-9._-]` (`upper`: `[A-Z0-9_]`) at the start of a text.
pub fn word(text: &str, upper: bool) -> &str {
    let ok = |c: char| match upper {
        true => c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_',
        false => c.is_ascii_alphanumeric() || "._-".contains(c),
    };
    &text[..text.find(|c| !ok(c)).unwrap_or(text.len())]
}

/// `CRONY_*` names in a text, with their byte offsets.
pub fn crony_names(text: &str) -> Vec<(usize, String)> {
    let at = text.match_indices("CRONY_").map(|(at, _)| at);
    let names = at
        .map(|at| (at, word(&text[at + 6..], true)))
        .filter(|(_, n)| !n.is_empty());
    names.map(|(at, n)| (at, format!("CRONY_{n}"))).collect()
}

/// Every setting the binaries take: the names in `[env: …]` of both `--help`s, which list the
/// `_FILE` variant of each secret beside the variable itself.
pub fn real_settings() -> BTreeSet<String> {
    let mut real = BTreeSet::new();
    for help in [help("crony-scheduler"), help("crony-agent")] {
        for (at, _) in help.match_indices("[env: ") {
            let env = &help[at..at + help[at..].find(']').expect("]")];
            real.extend(crony_names(env).into_iter().map(|(_, n)| n));
        }
    }
    assert!(real.len() > 40, "too few settings in --help: {real:?}");
    real
}

/// Every value deploy/ gives a setting: `NAME=value` and `NAME: value` in the files that are
/// not READMEs (commented examples too), and `{name, value}` in Kubernetes env lists.
pub fn setting_values(name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (rel, text) in deploy_files()
        .into_iter()
        .filter(|(r, _)| !r.ends_with("md"))
    {
        for (at, _) in crony_names(&text).into_iter().filter(|(_, n)| n == name) {
            let rest = &text[at + name.len()..];
            let Some(rest) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(": ")) else {
                continue;
            };
            let value = rest.trim_start_matches('"').split([' ', '\n', '"']).next();
            out.push((rel.clone(), value.unwrap_or("").to_owned()));
        }
    }
    for rel in ["kubernetes/scheduler.yaml", "kubernetes/agent.yaml"] {
        let docs = yaml_docs(rel);
        docs.iter()
            .for_each(|d| env_entries(d, name, rel, &mut out));
    }
    out
}

pub fn env_entries(v: &Value, name: &str, rel: &str, out: &mut Vec<(String, String)>) {
    if let (true, Some(value)) = (v["name"] == name, v["value"].as_str()) {
        out.push((rel.to_owned(), value.to_owned()));
    }
    match v {
        Value::Mapping(m) => m.values().for_each(|x| env_entries(x, name, rel, out)),
        Value::Sequence(s) => s.iter().for_each(|x| env_entries(x, name, rel, out)),
        _ => {}
    }
}

/// The Dockerfile's stages by name: their instructions, continuation lines joined.
pub fn dockerfile_stages() -> BTreeMap<String, Vec<String>> {
    let text = read("docker/Dockerfile").replace("\\\n", " ");
    let (mut stages, mut current) = (BTreeMap::<String, Vec<String>>::new(), String::new());
    for line in text.lines().map(str::trim).filter(|l| is_content(l)) {
        if let Some(from) = line.strip_prefix("FROM ") {
            current = from.split(" AS ").nth(1).expect("a named stage").to_owned();
        }
        stages
            .entry(current.clone())
            .or_default()
            .push(line.to_owned());
    }
    stages
}

/// The arguments of every `word` instruction (or `word=` line of a unit), joined by spaces.
pub fn args_of(lines: &[String], word: &str) -> String {
    let found = lines
        .iter()
        .filter_map(|l| l.strip_prefix(word)?.strip_prefix([' ', '=']));
    found.collect::<Vec<_>>().join(" ")
}

pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim().to_owned()).collect()
}

pub fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

pub fn container_ports(c: &Value) -> BTreeSet<u64> {
    let ports = seq(&c["ports"]).iter();
    ports.filter_map(|p| p["containerPort"].as_u64()).collect()
}

pub fn probe<'a>(c: &'a Value, which: &str) -> (&'a str, u64) {
    let get = &c[which]["httpGet"];
    let path = get["path"].as_str().expect(which);
    (path, get["port"].as_u64().expect("a numeric probe port"))
}

pub fn output_of(command: &mut Command) -> (bool, String) {
    let out = command.output().expect("the command runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}
