//! Bad configuration ends a binary with one line naming the setting — never a panic.

use std::process::Command;

use crony_tests::process::{crony_command, free_port, workspace_binary};
use crony_tests::{shared_mariadb, unique_name};

/// Runs a binary with `env` (and no inherited CRONY_*, but the test cluster token; an empty
/// value unsets a variable), expecting failure; returns stderr.
fn fails_with(binary: &str, env: &[(&str, &str)]) -> String {
    fails_with_args(binary, &[], env)
}

/// [`fails_with`], with command-line arguments.
fn fails_with_args(binary: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = crony_command(binary);
    let dir = tempfile::tempdir().expect("temp dir");
    command
        .args(args)
        .env("CRONY_AGENT_DATA_DIR", dir.path())
        .env("CRONY_HTTP_ADDR", "127.0.0.1:0")
        .env("CRONY_GRPC_ADDR", "127.0.0.1:0")
        .env("CRONY_CLUSTER_TOKEN", crony_tests::CLUSTER_TOKEN);
    for (key, value) in env {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let output = command.output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{binary} with {env:?} should fail; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{binary} panicked: {stderr}");
    stderr
}

fn assert_one_line_naming(stderr: &str, binary: &str, setting: &str) {
    let prefix = binary.replace("crony-test-", "crony-");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{prefix}: ")))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one error line from {prefix}; stderr: {stderr}"
    );
    assert!(
        lines[0].contains(setting),
        "error should name {setting}: {}",
        lines[0]
    );
}

#[test]
fn agent_refuses_a_bad_lease_ttl() {
    let stderr = fails_with("crony-test-agent", &[("CRONY_LEASE_TTL_SECS", "abc")]);
    assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_LEASE_TTL_SECS");
    let stderr = fails_with("crony-test-agent", &[("CRONY_LEASE_TTL_SECS", "0")]);
    assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_LEASE_TTL_SECS");
}

#[test]
fn agent_refuses_a_spool_bound_out_of_range() {
    for bad in ["0", "65537", "big"] {
        let stderr = fails_with("crony-test-agent", &[("CRONY_AGENT_SPOOL_MAX_MB", bad)]);
        assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_AGENT_SPOOL_MAX_MB");
    }
}

#[test]
fn agent_refuses_unparsable_labels() {
    let stderr = fails_with("crony-test-agent", &[("CRONY_AGENT_LABELS", "zone")]);
    assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_AGENT_LABELS");
}

#[test]
fn agent_names_an_unreachable_etcd() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let stderr = fails_with(
        "crony-test-agent",
        &[("CRONY_ETCD_ENDPOINTS", endpoint.as_str())],
    );
    assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_ETCD_ENDPOINTS");
}

#[test]
fn scheduler_refuses_a_malformed_database_url() {
    for url in [
        "mysql//root@127.0.0.1/crony",
        "postgres://root@127.0.0.1/crony",
        "mysql://root@127.0.0.1:3306",
    ] {
        let stderr = fails_with("crony-test-scheduler", &[("CRONY_DATABASE_URL", url)]);
        assert_one_line_naming(&stderr, "crony-test-scheduler", "CRONY_DATABASE_URL");
    }
}

#[test]
fn scheduler_names_an_unreachable_database_and_etcd() {
    let nowhere = format!("mysql://root@127.0.0.1:{}/crony", free_port());
    let stderr = fails_with(
        "crony-test-scheduler",
        &[("CRONY_DATABASE_URL", nowhere.as_str())],
    );
    assert_one_line_naming(&stderr, "crony-test-scheduler", "CRONY_DATABASE_URL");

    let db = shared_mariadb().url(&unique_name("crony"));
    let etcd = format!("http://127.0.0.1:{}", free_port());
    let stderr = fails_with(
        "crony-test-scheduler",
        &[
            ("CRONY_DATABASE_URL", db.as_str()),
            ("CRONY_ETCD_ENDPOINTS", etcd.as_str()),
        ],
    );
    assert_one_line_naming(&stderr, "crony-test-scheduler", "CRONY_ETCD_ENDPOINTS");
}

#[test]
fn scheduler_refuses_bad_ingest_settings() {
    for (setting, value) in [
        ("CRONY_EXECUTION_RETENTION_DAYS", "0"),
        ("CRONY_EXECUTION_RETENTION_DAYS", "3651"),
        ("CRONY_GRPC_ADDR", "nowhere"),
        ("CRONY_ADVERTISE_HOST", "http://scheduler:9090"),
        ("CRONY_ALERT_LANG", "klingon"),
    ] {
        let stderr = fails_with("crony-test-scheduler", &[(setting, value)]);
        assert_one_line_naming(&stderr, "crony-test-scheduler", setting);
    }
}

#[test]
fn a_misspelt_config_file_key_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("agent.toml");
    std::fs::write(&file, "lease_ttl = 5\n").expect("write config");
    let output = Command::new(workspace_binary("crony-test-agent"))
        .arg("--config")
        .arg(&file)
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_one_line_naming(&stderr, "crony-test-agent", "unknown setting `lease_ttl`");
}

#[test]
fn tls_files_are_checked_at_start_and_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").expect("write");
    let garbage = garbage.to_str().expect("utf-8 path");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().expect("utf-8 path");

    // One of the pair alone: the error names the one that is missing.
    let stderr = fails_with("crony-test-agent", &[("CRONY_TLS_CERT", garbage)]);
    assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_TLS_KEY");
    let stderr = fails_with("crony-test-scheduler", &[("CRONY_TLS_KEY", garbage)]);
    assert_one_line_naming(&stderr, "crony-test-scheduler", "CRONY_TLS_CERT");

    // An unreadable file: the setting and the path.
    for binary in ["crony-test-scheduler", "crony-test-agent"] {
        let stderr = fails_with(
            binary,
            &[("CRONY_TLS_CERT", missing), ("CRONY_TLS_KEY", garbage)],
        );
        assert_one_line_naming(&stderr, binary, "CRONY_TLS_CERT");
        assert!(stderr.contains("missing.pem"), "{stderr}");
        let stderr = fails_with(binary, &[("CRONY_TLS_CA", missing)]);
        assert_one_line_naming(&stderr, binary, "CRONY_TLS_CA");
    }

    // Garbage instead of PEM.
    let stderr = fails_with(
        "crony-test-scheduler",
        &[("CRONY_TLS_CERT", garbage), ("CRONY_TLS_KEY", garbage)],
    );
    assert_one_line_naming(&stderr, "crony-test-scheduler", "CRONY_TLS_CERT");
    assert!(stderr.contains("garbage.pem"), "{stderr}");
    let stderr = fails_with("crony-test-agent", &[("CRONY_TLS_CA", garbage)]);
    assert_one_line_naming(&stderr, "crony-test-agent", "CRONY_TLS_CA");
    assert!(stderr.contains("no PEM certificate"), "{stderr}");
}

#[test]
fn a_bad_callback_allow_entry_is_named() {
    for binary in ["crony-test-scheduler", "crony-test-agent"] {
        let stderr = fails_with(
            binary,
            &[("CRONY_CALLBACK_ALLOW", "10.0.0.0/8,http://evil")],
        );
        assert_one_line_naming(&stderr, binary, "CRONY_CALLBACK_ALLOW");
        assert!(stderr.contains("http://evil"), "{stderr}");
    }
}

const BINARIES: [&str; 2] = ["crony-test-scheduler", "crony-test-agent"];

#[test]
fn neither_binary_starts_without_a_cluster_credential() {
    for binary in BINARIES {
        let stderr = fails_with(binary, &[("CRONY_CLUSTER_TOKEN", "")]);
        assert_one_line_naming(&stderr, binary, "no cluster credential");
        for named in [
            "CRONY_CLUSTER_TOKEN or CRONY_CLUSTER_TOKEN_FILE",
            "--insecure-no-cluster-token",
        ] {
            assert!(stderr.contains(named), "{named} not named: {stderr}");
        }
        // Explicitly off is off.
        let stderr = fails_with(
            binary,
            &[
                ("CRONY_CLUSTER_TOKEN", ""),
                ("CRONY_INSECURE_NO_CLUSTER_TOKEN", "false"),
            ],
        );
        assert_one_line_naming(&stderr, binary, "no cluster credential");
    }
}

#[test]
fn a_short_token_or_a_token_with_the_insecure_switch_is_refused() {
    for binary in BINARIES {
        let stderr = fails_with(binary, &[("CRONY_CLUSTER_TOKEN", "hunter2hunter2")]);
        assert_one_line_naming(&stderr, binary, "CRONY_CLUSTER_TOKEN");
        assert!(stderr.contains("at least 32 characters"), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the token was echoed: {stderr}"
        );
        let stderr = fails_with_args(binary, &["--insecure-no-cluster-token"], &[]);
        assert_one_line_naming(&stderr, binary, "--insecure-no-cluster-token");
        assert!(stderr.contains("CRONY_CLUSTER_TOKEN"), "{stderr}");
    }
}

#[test]
fn secrets_given_as_flags_are_refused_without_being_repeated() {
    let token = crony_tests::CLUSTER_TOKEN;
    for binary in BINARIES {
        let stderr = fails_with_args(binary, &["--cluster-token", token], &[]);
        assert_one_line_naming(&stderr, binary, "--cluster-token");
        assert!(
            stderr.contains("process list") && stderr.contains("CRONY_CLUSTER_TOKEN_FILE"),
            "{stderr}"
        );
        assert!(!stderr.contains(token), "the token was echoed: {stderr}");
    }
    for (flag, value, env) in [
        (
            "--admin-password",
            "pa55word-pa55word",
            "CRONY_ADMIN_PASSWORD_FILE",
        ),
        (
            "--database-url",
            "mysql://root:pw@127.0.0.1/x",
            "CRONY_DATABASE_URL_FILE",
        ),
        (
            "--feishu-secret",
            "feishu-s3cret",
            "CRONY_FEISHU_SECRET_FILE",
        ),
    ] {
        let stderr = fails_with_args("crony-test-scheduler", &[flag, value], &[]);
        assert_one_line_naming(&stderr, "crony-test-scheduler", flag);
        assert!(stderr.contains(env), "{stderr}");
        assert!(!stderr.contains(value), "the secret was echoed: {stderr}");
    }
}

#[test]
fn an_unreadable_secret_file_and_a_secret_given_twice_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-token");
    let missing = missing.to_str().expect("utf-8 path");
    for binary in BINARIES {
        let stderr = fails_with(
            binary,
            &[
                ("CRONY_CLUSTER_TOKEN", ""),
                ("CRONY_CLUSTER_TOKEN_FILE", missing),
            ],
        );
        assert_one_line_naming(&stderr, binary, "CRONY_CLUSTER_TOKEN_FILE");
        assert!(stderr.contains(missing), "{stderr}");
        let stderr = fails_with(binary, &[("CRONY_CLUSTER_TOKEN_FILE", missing)]);
        assert_one_line_naming(&stderr, binary, "both CRONY_CLUSTER_TOKEN and");
        assert!(stderr.contains("CRONY_CLUSTER_TOKEN_FILE"), "{stderr}");
    }
}

#[test]
fn help_shows_the_file_variants_of_secrets_and_not_their_flags() {
    for binary in BINARIES {
        let output = crony_command(binary)
            .arg("--help")
            .output()
            .expect("binary runs");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{help}");
        for shown in [
            "--cluster-token-file <PATH>",
            "CRONY_CLUSTER_TOKEN_FILE",
            "--insecure-no-cluster-token",
            "--tls-client-ca",
        ] {
            assert!(
                help.contains(shown),
                "{binary} --help lacks {shown}: {help}"
            );
        }
        assert!(!help.contains("--cluster-token <"), "{help}");
    }
}

#[test]
fn scheduler_help_lists_the_alert_language() {
    let output = crony_command("crony-test-scheduler")
        .arg("--help")
        .output()
        .expect("binary runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("CRONY_ALERT_LANG") && help.contains("zh-CN"),
        "{help}"
    );
}

#[test]
fn mutual_tls_needs_the_process_own_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = crony_tests::TestPki::create(dir.path(), "mtls").expect("test PKI");
    for binary in BINARIES {
        let stderr = fails_with(binary, &[("CRONY_TLS_CLIENT_CA", pki.ca_str())]);
        assert_one_line_naming(&stderr, binary, "CRONY_TLS_CLIENT_CA");
        assert!(stderr.contains("CRONY_TLS_CERT"), "{stderr}");
    }
}

#[test]
fn a_cluster_webhook_the_allow_list_refuses_is_named() {
    for setting in ["CRONY_FEISHU_WEBHOOK", "CRONY_ALERT_WEBHOOK"] {
        let stderr = fails_with(
            "crony-test-scheduler",
            &[
                ("CRONY_CLUSTER_TOKEN", crony_tests::CLUSTER_TOKEN),
                ("CRONY_CALLBACK_ALLOW", "hooks.example.com"),
                (setting, "http://169.254.169.254/latest/meta-data"),
            ],
        );
        assert_one_line_naming(&stderr, "crony-test-scheduler", setting);
        assert!(stderr.contains("CRONY_CALLBACK_ALLOW"), "{stderr}");
    }
}
