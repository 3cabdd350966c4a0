//! `crony import-crontab` on a real crontab (comments, `MAILTO`, `CRON_TZ`, ranges, `@reboot`,
//! a line that is not cron): the job file it prints, and that `apply` takes it.

use serde_json::Value;

use super::crony;
use crony_tests::{TestEnv, TestScheduler};

const CRONTAB: &str = "\
# Edit this file to introduce tasks to be run by cron.
MAILTO=ops@example.com
CRON_TZ=Asia/Shanghai

# Nightly database backup
30 2 * * * /usr/local/bin/backup.sh --all
@reboot /opt/app/bin/start-workers
# Office-hours report
0 9-17 * * mon-fri /opt/app/bin/report --hourly > /dev/null 2>&1
this line is not cron
@daily /opt/app/bin/rotate-logs
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crontab_imports_as_a_job_file_that_applies() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let dir = env.dir.path();
    std::fs::write(dir.join("crontab"), CRONTAB)?;
    let run = crony(&s.base_url, dir, &["import-crontab", "crontab"], &[]).await?;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("crontab:7: skipped: @reboot"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("crontab:10: skipped"), "{}", run.stderr);
    let file: Value = serde_json::to_value(serde_norway::from_str::<Value>(&run.stdout)?)?;
    let jobs = file["jobs"].as_array().expect("jobs").clone();
    assert_eq!(jobs.len(), 3, "{}", run.stdout);
    let schedules: Vec<&str> = jobs.iter().filter_map(|j| j["schedule"].as_str()).collect();
    assert_eq!(schedules, ["30 2 * * *", "0 9-17 * * mon-fri", "@daily"]);
    for job in &jobs {
        assert_eq!(job["timezone"], "Asia/Shanghai", "{job}");
        assert_eq!(job["target"]["kind"], "shell");
        assert_eq!(job["target"]["env"]["MAILTO"], "ops@example.com");
    }
    assert_eq!(jobs[0]["description"], "Nightly database backup");
    assert_eq!(
        jobs[0]["target"]["command"],
        "/usr/local/bin/backup.sh --all"
    );
    let mut names: Vec<&str> = jobs.iter().filter_map(|j| j["name"].as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 3, "names are distinct: {names:?}");
    // Stable: the same crontab gives the same names.
    let again = crony(&s.base_url, dir, &["import-crontab", "crontab"], &[]).await?;
    assert_eq!(again.stdout, run.stdout);
    // And the file is one `apply` takes (the server validates every field).
    std::fs::write(dir.join("crontab.yaml"), &run.stdout)?;
    let planned = crony(
        &s.base_url,
        dir,
        &["apply", "-f", "crontab.yaml", "--dry-run"],
        &[],
    )
    .await?;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert!(
        planned.stdout.contains("3 would be created"),
        "{}",
        planned.stdout
    );
    s.stop().await;
    Ok(())
}
