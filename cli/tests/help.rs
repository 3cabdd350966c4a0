//! The `crony` binary without a cluster: grouped help with examples, completions, the man
//! page, a clear error and exit 2 when no cluster is configured, and `login` writing a profile
//! only its owner can read.

use std::process::{Command, Output};

fn crony(args: &[&str], home: &std::path::Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crony"));
    for (key, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("CRONY_") || k == "XDG_CONFIG_HOME")
    {
        command.env_remove(key);
    }
    command
        .args(args)
        .env("HOME", home)
        .output()
        .expect("crony runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_is_grouped_with_examples_and_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let out = crony(&["--help"], home.path());
    assert!(out.status.success());
    let help = text(&out.stdout);
    for heading in [
        "Jobs:",
        "Runs:",
        "Cluster:",
        "Job files (keep your jobs in git):",
        "Examples:",
        "Exit codes:",
    ] {
        assert!(help.contains(heading), "{heading} missing from\n{help}");
    }
    let apply = text(&crony(&["apply", "--help"], home.path()).stdout);
    assert!(apply.contains("crony apply -f jobs/ --dry-run"), "{apply}");
    let trigger = text(&crony(&["jobs", "trigger", "--help"], home.path()).stdout);
    assert!(
        trigger.contains("--wait") && trigger.contains("Example"),
        "{trigger}"
    );
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let home = tempfile::tempdir().unwrap();
    let bash = crony(&["completions", "bash"], home.path());
    assert!(bash.status.success());
    assert!(text(&bash.stdout).contains("_crony()"));
    assert!(text(&crony(&["completions", "zsh"], home.path()).stdout).contains("#compdef crony"));
    let man = crony(&["man"], home.path());
    assert!(man.status.success());
    let page = text(&man.stdout);
    assert!(
        page.contains(".TH crony") && page.contains("import\\-crontab"),
        "{page}"
    );
}

#[test]
fn without_a_cluster_the_error_says_how_to_name_one() {
    let home = tempfile::tempdir().unwrap();
    let out = crony(&["jobs", "list"], home.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("CRONY_URL") && stderr.contains("crony login"),
        "{stderr}"
    );
    let out = crony(&["--profile", "prod", "jobs", "list"], home.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no profile \"prod\""));
    let bad = crony(&["jobs", "frobnicate"], home.path());
    assert_eq!(bad.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn login_writes_a_profile_only_its_owner_can_read() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crony"))
        .args([
            "login",
            "--profile",
            "prod",
            "--url",
            "http://127.0.0.1:9",
            "--token-stdin",
        ])
        .env("HOME", home.path())
        .env_remove("CRONY_URL")
        .env_remove("CRONY_TOKEN")
        .env_remove("CRONY_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"crony_secret_token\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let path = home.path().join(".config/crony/config.toml");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(
        config.contains("crony_secret_token") && config.contains("current = \"prod\""),
        "{config}"
    );
    // The saved profile is what a command uses: its error names the profile's address.
    let out = crony(&["jobs", "list"], home.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach Crony"),
        "{}",
        text(&out.stderr)
    );
}
