//! Tests for crontab import.

use serde_json::{Value, json};

use super::*;

const USER_CRONTAB: &str = r#"# Edit this file to introduce tasks to be run by cron.
# m h  dom mon dow   command

MAILTO=ops@example.com
CRON_TZ=Asia/Shanghai
# Nightly database backup
# (keeps 7 days)
30 2 * * * /usr/local/bin/backup.sh
0 9-17 * * mon-fri /opt/app/bin/report --daily > /dev/null 2>&1
@reboot /opt/app/start.sh
this is not a crontab line
@daily FOO=1 /usr/bin/cleanup.py
*/5 * * * * date +%s >> /tmp/ticks
*/5 * * * * printf '100\% done' | /usr/local/bin/backup.sh
PATH = "/usr/bin:/bin"
MAILTO=""
@midnight cd /srv && /usr/bin/backup.sh
"#;

fn by_name<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
    match jobs.iter().find(|j| j["name"] == name) {
        Some(job) => job,
        None => panic!("no job {name} in {jobs:#?}"),
    }
}

#[test]
fn user_crontab_imports_entries_and_reports_the_rest() {
    let out = import(USER_CRONTAB, "crontab.txt", Format::User);
    let names: Vec<&str> = out.jobs.iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "crontab-backup-sh",
            "crontab-report",
            "crontab-cleanup-py",
            "crontab-printf",
            "crontab-backup-sh-2"
        ]
    );
    let backup = by_name(&out.jobs, "crontab-backup-sh");
    let expected = json!({
        "name": "crontab-backup-sh",
        "schedule": "30 2 * * *",
        "timezone": "Asia/Shanghai",
        "description": "Nightly database backup (keeps 7 days)",
        "target": {"kind": "shell", "command": "/usr/local/bin/backup.sh",
                   "env": {"MAILTO": "ops@example.com"}},
    });
    assert_eq!(backup, &expected);
    let report = by_name(&out.jobs, "crontab-report");
    assert_eq!(report["schedule"], "0 9-17 * * mon-fri");
    assert_eq!(
        report["target"]["command"],
        "/opt/app/bin/report --daily > /dev/null 2>&1"
    );
    assert!(report.get("description").is_none());
    assert_eq!(
        by_name(&out.jobs, "crontab-cleanup-py")["schedule"],
        "@daily"
    );
    let printf = by_name(&out.jobs, "crontab-printf");
    assert_eq!(
        printf["target"]["command"],
        "printf '100% done' | /usr/local/bin/backup.sh"
    );
    let last = by_name(&out.jobs, "crontab-backup-sh-2");
    assert_eq!(last["schedule"], "@daily", "@midnight is @daily");
    assert_eq!(
        last["target"]["env"],
        json!({"MAILTO": "", "PATH": "/usr/bin:/bin"})
    );
}

#[test]
fn skipped_lines_carry_number_and_reason() {
    let out = import(USER_CRONTAB, "crontab.txt", Format::User);
    let skipped: Vec<(usize, &str, &str)> = out
        .skipped
        .iter()
        .map(|s| (s.line, s.text.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (10, "@reboot /opt/app/start.sh", REBOOT),
            (11, "this is not a crontab line", NOT_ENTRY),
            (13, "*/5 * * * * date +%s >> /tmp/ticks", PERCENT),
        ]
    );
    assert!(REBOOT.starts_with("@reboot has no equivalent"));
}

#[test]
fn system_crontab_has_a_user_column() {
    let text = "SHELL=/bin/sh\n# rotate logs\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n\
                @weekly www-data /usr/bin/php /srv/app/artisan schedule:run\n0 0 * * *\n";
    let out = import(text, "/etc/cron.d/backup", Format::System);
    assert_eq!(out.jobs.len(), 2);
    let expected = json!({
        "name": "backup-run-parts",
        "schedule": "17 * * * *",
        "description": "rotate logs (cron user: root)",
        "target": {"kind": "shell", "command": "cd / && run-parts --report /etc/cron.hourly",
                   "env": {"SHELL": "/bin/sh"}},
    });
    assert_eq!(out.jobs[0], expected);
    assert_eq!(out.jobs[1]["name"], "backup-php");
    assert_eq!(out.jobs[1]["description"], "(cron user: www-data)");
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(
        (out.skipped[0].line, out.skipped[0].reason.as_str()),
        (5, NOT_ENTRY)
    );
}

#[test]
fn a_bad_time_zone_skips_the_entries_that_use_it() {
    let text = "TZ=Mars/Olympus Mons\n0 1 * * * /bin/a\nCRON_TZ=Etc/GMT+8\n0 2 * * * /bin/b\n";
    let out = import(text, "c", Format::User);
    assert_eq!(out.jobs.len(), 1);
    assert_eq!(out.jobs[0]["timezone"], "Etc/GMT+8");
    assert_eq!(out.skipped[0].line, 2);
    assert_eq!(
        out.skipped[0].reason,
        "unknown time zone \"Mars/Olympus Mons\" (line 1)"
    );
    let out = import(
        "CRON_TZ=EST\n@hourly /bin/x\nCRON_TZ=UTC\n@hourly /bin/y\n",
        "c",
        Format::User,
    );
    assert_eq!(out.skipped[0].reason, "unknown time zone \"EST\" (line 1)");
    assert_eq!(out.jobs[0]["timezone"], "UTC");
}

#[test]
fn fields_are_sanity_checked() {
    let out = import(
        "61 * * * * /bin/x\n0 0 1 jan,jul ? /bin/y\n* * * * /bin/z\n0 0 * * * \n",
        "c",
        Format::User,
    );
    // Ranges are the server's business; shapes are checked here.
    let schedules: Vec<&str> = out
        .jobs
        .iter()
        .filter_map(|j| j["schedule"].as_str())
        .collect();
    assert_eq!(schedules, ["61 * * * *", "0 0 1 jan,jul ?"]);
    assert_eq!(
        out.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        [3, 4]
    );
}

#[test]
fn names_are_slugs_and_never_empty() {
    let out = import(
        "@hourly env LANG=C nice -n 5 /opt/My Tool.SH\n@hourly 'x'\n@hourly -\n",
        "",
        Format::User,
    );
    let names: Vec<&str> = out.jobs.iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(names, ["my", "x", "job"]);
    assert_eq!(names::slug(&"a".repeat(80)).len(), 60);
    assert_eq!(names::slug("--Foo__Bar--"), "foo-bar");
}
