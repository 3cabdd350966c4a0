//! The admin dashboard end to end, in a real headless Chromium (Debian's `chromium` driven by
//! `chromium-driver`) against a real scheduler, agent, etcd and MariaDB: log in, create an
//! HTTP job pointing at a loopback sink, watch it succeed in the job's history, break the
//! target and read the failure's output, pause the job, change an agent's weight; a viewer
//! sees no edit controls and the server refuses the change anyway. The walk runs in English
//! and in Chinese (a browser preferring zh-CN gets Chinese; the switch in the top bar changes
//! it and is remembered). With `CRONY_SCREENSHOTS=1` it also refreshes `docs/screenshots/`
//! (`docs/screenshots/zh-CN/` for Chinese).
//!
//! Also, without a browser: the assets are served with the right types and cache headers and
//! do not shadow the API, and the stats endpoints answer and validate `days`.

use std::time::Duration;

use crony_tests::browser::Browser;
use crony_tests::{ADMIN_PASSWORD, AgentProcess, HttpSink, TestEnv, TestScheduler, wait_until};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[path = "dashboard/words.rs"]
mod words;
use words::{EN, Words, ZH_CN};

/// A screenshot (with `CRONY_SCREENSHOTS=1`) without the notifications of the last action,
/// in the folder of the walk's language.
async fn shot(b: &Browser, w: &Words, name: &str) -> anyhow::Result<()> {
    b.run(
        "document.querySelectorAll('.toast').forEach((t) => t.remove())",
        vec![],
    )
    .await?;
    b.screenshot(&format!("{}{name}", w.screenshots)).await
}

const VIEWER_PASSWORD: &str = "viewer-password-123";

/// Direct API calls of the test, with the harness's admin token (setting up, and checking
/// what the browser did).
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: crony_tests::api_client(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await?;
        anyhow::ensure!(status == StatusCode::OK, "GET {path}: {status} {body}");
        Ok(body)
    }
}

#[tokio::test]
async fn assets_are_served_beside_the_api_without_shadowing_it() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let http = reqwest::Client::new();

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/js/app.js", "text/javascript; charset=utf-8"),
        (
            "/static/js/pages/jobform.js",
            "text/javascript; charset=utf-8",
        ),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let response = http.get(s.url(path)).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let etag = headers["etag"].to_str()?.to_owned();
        // Revalidation: the same file again costs a 304 and no body.
        let again = http
            .get(s.url(path))
            .header("if-none-match", &etag)
            .send()
            .await?;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let page = http.get(s.url("/")).send().await?.text().await?;
    assert!(page.contains("/static/js/app.js"), "{page}");
    // Nothing in the dashboard refers to another host.
    for path in ["/", "/static/app.css", "/static/js/app.js"] {
        let text = http.get(s.url(path)).send().await?.text().await?;
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} names an external URL"
        );
    }

    let missing = http.get(s.url("/static/nope.js")).send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // The API keeps its own JSON 404 and its routes.
    let api_404 = http.get(s.url("/api/v1/nope")).send().await?;
    assert_eq!(api_404.status(), StatusCode::NOT_FOUND);
    let body: Value = api_404.json().await?;
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    assert_eq!(
        http.get(s.url("/healthz")).send().await?.status(),
        StatusCode::OK
    );
    assert!(
        http.get(s.url("/metrics"))
            .send()
            .await?
            .status()
            .is_success()
    );

    // Alert links (`{dashboard}/executions/{id}`) land on the page's hash route.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let link = no_redirect.get(s.url("/executions/abc")).send().await?;
    assert!(link.status().is_redirection(), "{}", link.status());
    assert_eq!(link.headers()["location"], "/#/executions/abc");
    s.stop().await;
    Ok(())
}

#[tokio::test]
async fn stats_answer_for_an_empty_cluster_and_name_a_bad_days() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let api = Api::new(&s.base_url);

    let daily = api.get("/api/v1/stats/daily").await?;
    let days = daily["days"].as_array().expect("days");
    assert_eq!(days.len(), 7, "{daily}");
    assert_eq!(
        days[6]["date"],
        chrono::Utc::now().format("%Y-%m-%d").to_string()
    );
    assert_eq!(days[0]["by_status"]["succeeded"], 0);
    assert_eq!(
        api.get("/api/v1/stats/daily?days=90").await?["days"]
            .as_array()
            .map(Vec::len),
        Some(90)
    );
    for bad in ["0", "91", "seven", "-1", "1.5"] {
        let (status, body) = api
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/stats/daily?days={bad}"),
                None,
            )
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "days={bad}: {body}");
        assert_eq!(body["error"]["field"], "days", "{body}");
    }

    let summary = api.get("/api/v1/stats/summary").await?;
    assert_eq!(summary["agents"], json!({"online": 0, "offline": 0}));
    assert_eq!(summary["today"]["succeeded"], 0);
    assert_eq!(summary["recent_failures"], json!([]));
    assert_eq!(summary["next_fires"], json!([]));
    s.stop().await;
    Ok(())
}

/// The walk-through of the issue's "must show" list, in one browser session, in English.
#[tokio::test]
async fn an_admin_runs_a_job_from_the_browser_and_a_viewer_cannot_change_it() -> anyhow::Result<()>
{
    browser_walk(&EN).await
}

/// The same walk in a browser that prefers Chinese.
#[tokio::test]
async fn the_same_walk_in_chinese() -> anyhow::Result<()> {
    browser_walk(&ZH_CN).await
}

async fn browser_walk(w: &Words) -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let sink = HttpSink::start().await?;
    let alert_hook = sink.url("/alerts");
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.alerts.webhook = Some(alert_hook);
    })
    .await?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_AGENT_LABELS", "zone=a,tier=batch"),
    )?;
    let agent_id = agent.id().await?;
    let api = Api::new(&s.base_url);
    wait_until("the agent online", Duration::from_secs(15), || async {
        let body = api
            .get("/api/v1/agents?state=online")
            .await
            .map_err(|e| e.to_string())?;
        Ok((body["agents"].as_array().map(Vec::len) == Some(1)).then_some(()))
    })
    .await?;

    let preferred = (w.lang != "en").then_some(w.lang);
    let browser = Browser::start_in(preferred).await?;
    let walked = async {
        language(&browser, &s, w).await?;
        walk(&browser, w, &s, &api, &sink, &agent_id).await
    }
    .await;
    browser.quit().await;
    walked?;
    agent.terminate().await?;
    s.stop().await;
    Ok(())
}

/// The browser's language is the dashboard's (`<html lang>`, the nav in its words); in
/// Chinese, the switch goes to English and back, remembered across a reload.
async fn language(b: &Browser, s: &TestScheduler, w: &Words) -> anyhow::Result<()> {
    let html_lang = || async {
        let lang = b
            .run("return document.documentElement.lang", vec![])
            .await?;
        anyhow::Ok(lang.as_str().unwrap_or_default().to_owned())
    };
    // The sidebar is hidden until one logs in: its words are read, not looked at.
    let nav_jobs = || async {
        let script = "return document.querySelector(\"a[data-nav='jobs']\").textContent";
        let label = b.run(script, vec![]).await?;
        anyhow::Ok(label.as_str().unwrap_or_default().to_owned())
    };
    b.goto(&s.url("/")).await?;
    b.wait_text("main h1", w.log_in).await?;
    assert_eq!(html_lang().await?, w.lang);
    assert_eq!(nav_jobs().await?, w.jobs);
    if w.lang == "en" {
        return Ok(());
    }
    b.client
        .execute(
            "const s = document.getElementById('lang-switch'); s.value = arguments[0]; \
             s.dispatchEvent(new Event('change'));",
            vec![json!("en")],
        )
        .await?;
    b.wait_text("main h1", EN.log_in).await?;
    assert_eq!(html_lang().await?, "en");
    b.client.refresh().await?;
    b.wait_text("main h1", EN.log_in).await?;
    assert_eq!(nav_jobs().await?, EN.jobs);
    assert_eq!(html_lang().await?, "en", "the choice was not remembered");
    // Back through the visible control, as a person would.
    b.click(&format!("#lang-switch option[value='{}']", w.lang))
        .await?;
    b.wait_text("main h1", w.log_in).await?;
    assert_eq!(nav_jobs().await?, w.jobs);
    assert_eq!(html_lang().await?, w.lang);
    Ok(())
}

async fn walk(
    b: &Browser,
    w: &Words,
    s: &TestScheduler,
    api: &Api,
    sink: &HttpSink,
    agent_id: &str,
) -> anyhow::Result<()> {
    // Log in; a wrong password is said so; keyboard only: Enter submits.
    b.goto(&s.url("/")).await?;
    b.wait_text("main h1", w.log_in).await?;
    b.fill("#username", "admin").await?;
    b.fill("#password", "wrong password").await?;
    b.click("#login-submit").await?;
    b.wait_text("#login-error", w.wrong_password).await?;
    b.fill("#password", "").await?;
    b.find("#password")
        .await?
        .send_keys(&format!("{ADMIN_PASSWORD}\u{E007}"))
        .await?;
    b.wait_text("main h1", w.overview).await?;
    // Logged in, the navigation shows, in the walk's language.
    b.wait_text("#sidebar a[data-nav='jobs']", w.jobs).await?;
    b.wait_text("#user-box", w.admin).await?;
    b.wait_text(".stat", w.agents_online).await?;

    // Create an HTTP job at the sink; the cron preview answers as you type.
    b.click("a[href='#/jobs']").await?;
    b.wait_text("main", w.no_jobs_yet).await?;
    b.click("#new-job").await?;
    b.fill("#f-name", "nightly-report").await?;
    b.fill("#f-description", "Builds the revenue report")
        .await?;
    b.fill("#f-schedule", "0 0 3 1 1 * 2099 oops").await?;
    let error = b.find("#f-schedule-error").await?;
    wait_until(
        "the preview's inline error",
        Duration::from_secs(10),
        || async {
            let shown = error.is_displayed().await.map_err(|e| e.to_string())?;
            Ok(shown.then_some(()))
        },
    )
    .await?;
    b.fill("#f-schedule", "*/2 * * * * *").await?;
    b.fill("#f-timezone", "Asia/Shanghai").await?;
    b.wait_text("#cron-preview", w.next_fires_in_shanghai)
        .await?;
    let fires = b.client.find_all(Locator::Css("#cron-preview li")).await?;
    assert_eq!(fires.len(), 5);
    assert!(fires[0].text().await?.contains("+08:00"));
    b.fill("#f-target-url", &sink.url("/report")).await?;
    b.click("input[name='alerts-on'][value='failed']").await?;
    b.run(
        "document.getElementById('cron-preview').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await?;
    shot(b, w, "job-form").await?;
    b.click("#job-save").await?;

    // The job page: its executions appear and succeed without a reload.
    b.wait_text("main h1", "nightly-report").await?;
    let job_id = b
        .run("return location.hash.split('/')[2]", vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!job_id.is_empty(), "no job id in the URL");
    b.wait_text_within("#job-history", w.succeeded, Duration::from_secs(30))
        .await?;
    assert!(!sink.calls_to("/report").is_empty());
    b.wait_text("#job-sparkline", "%").await?;

    // Break the target: the failure shows up, with the sink's answer as output.
    sink.answer(500);
    b.wait_text_within("#job-history", w.failed, Duration::from_secs(30))
        .await?;
    b.wait_text("#job-sparkline", w.of_last).await?;
    shot(b, w, "job").await?;
    let failed = b
        .client
        .find(Locator::XPath(
            "//div[@id='job-history']//tr[.//span[@data-status='failed']]//a",
        ))
        .await?;
    b.click_element(&failed).await?;
    b.wait_text("#execution-output", "{\"answered\":500}")
        .await?;
    b.wait_text("#execution", w.failed).await?;
    shot(b, w, "execution").await?;

    // Pause it from its page.
    b.goto(&s.url(&format!("/#/jobs/{job_id}"))).await?;
    b.click("#job-pause").await?;
    b.find("#job-resume").await?;
    let job = api.get(&format!("/api/v1/jobs/{job_id}")).await?;
    assert_eq!(job["enabled"], false, "{job}");
    // The sink keeps answering 500: a fire already on its way when the pause reached the agent
    // must not turn the last outcome into a success.

    // What the overview and the jobs list were drawn from.
    let summary = api.get("/api/v1/stats/summary").await?;
    assert_eq!(
        summary["agents"],
        json!({"online": 1, "offline": 0}),
        "{summary}"
    );
    assert!(
        summary["today"]["succeeded"].as_u64() >= Some(1),
        "{summary}"
    );
    assert!(summary["today"]["failed"].as_u64() >= Some(1), "{summary}");
    assert_eq!(summary["recent_failures"][0]["job_name"], "nightly-report");
    assert_eq!(summary["recent_failures"][0]["status"], "failed");
    assert_eq!(
        summary["next_fires"],
        json!([]),
        "a paused job has no next fire"
    );
    let daily = api.get("/api/v1/stats/daily?days=7").await?;
    let today = &daily["days"][6]["by_status"];
    assert!(
        today["succeeded"].as_u64() >= Some(1) && today["failed"].as_u64() >= Some(1),
        "{daily}"
    );
    let listed = api.get("/api/v1/jobs").await?;
    assert_eq!(
        listed["jobs"][0]["last_outcome"]["status"], "failed",
        "{listed}"
    );

    // A second, enabled job, so the overview has a next fire to show.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/jobs",
            Some(json!({"name": "nightly-cleanup", "schedule": "0 0 4 * * *",
                        "timezone": "Europe/Berlin",
                        "target": {"kind": "http", "url": sink.url("/cleanup")}})),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{status} {body}");

    // Jobs list, executions, overview with today's figures.
    b.goto(&s.url("/#/jobs")).await?;
    b.wait_text("#jobs-results", "nightly-report").await?;
    b.wait_text("#jobs-results", w.failed).await?;
    shot(b, w, "jobs").await?;
    b.goto(&s.url("/#/executions")).await?;
    b.wait_text("#executions-results", "nightly-report").await?;
    shot(b, w, "executions").await?;
    b.goto(&s.url("/#/")).await?;
    b.wait_text("main", w.recent_failures).await?;
    b.wait_text(".card", "nightly-report").await?;
    b.wait_text(".card", "nightly-cleanup").await?;
    shot(b, w, "overview").await?;

    // Change the agent's weight.
    b.goto(&s.url("/#/agents")).await?;
    b.wait_text("#agents-results", "zone=a").await?;
    b.fill(&format!("#weight-{agent_id}"), "7").await?;
    b.click(&format!("button[data-agent='{agent_id}']")).await?;
    wait_until(
        "the weight override stored",
        Duration::from_secs(10),
        || async {
            let a = api
                .get(&format!("/api/v1/agents/{agent_id}"))
                .await
                .map_err(|e| e.to_string())?;
            Ok((a["weight_override"] == 7).then_some(()))
        },
    )
    .await?;
    shot(b, w, "agents").await?;

    // Alerts: the failure alerted the cluster webhook.
    b.goto(&s.url("/#/alerts")).await?;
    b.wait_text_within("#alerts-results", w.failed, Duration::from_secs(20))
        .await?;
    shot(b, w, "alerts").await?;

    // A run that hangs: "Run now", follow it while it runs, kill it (after confirming).
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/jobs",
            Some(json!({"name": "slow-export", "schedule": "0 0 3 1 1 *",
                        "target": {"kind": "http", "url": sink.url("/slow")},
                        "timeout_secs": 300})),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{status} {body}");
    let slow = body["id"].as_str().unwrap_or_default().to_owned();
    sink.delay(Duration::from_secs(120));
    b.goto(&s.url(&format!("/#/jobs/{slow}"))).await?;
    b.wait_text("#job-history", w.no_executions_yet).await?;
    b.click("#job-trigger").await?;
    b.wait_text("#job-history", w.running).await?;
    let running = b
        .client
        .find(Locator::XPath(
            "//div[@id='job-history']//tr[.//span[@data-status='running']]//a",
        ))
        .await?;
    b.click_element(&running).await?;
    b.click("#execution-kill").await?;
    b.click("dialog .button.danger").await?;
    b.wait_text_within("#execution", w.killed, Duration::from_secs(20))
        .await?;
    assert!(
        !b.exists("#execution-kill").await?,
        "Kill stays after the run ended"
    );
    sink.delay(Duration::ZERO);

    // Delete it: Cancel keeps it, confirming removes it.
    b.goto(&s.url(&format!("/#/jobs/{slow}"))).await?;
    b.click("#job-delete").await?;
    b.wait_text("dialog", w.delete_job).await?;
    b.click("dialog .dialog-actions .button:not(.danger)")
        .await?;
    assert!(!b.exists("dialog").await?);
    api.get(&format!("/api/v1/jobs/{slow}")).await?;
    b.click("#job-delete").await?;
    b.click("dialog .button.danger").await?;
    b.wait_text("main h1", w.jobs).await?;
    let (status, _) = api
        .call(reqwest::Method::GET, &format!("/api/v1/jobs/{slow}"), None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The server's field errors appear next to their field: a second job of the same name.
    b.click("#new-job").await?;
    b.fill("#f-name", "nightly-report").await?;
    b.fill("#f-target-url", &sink.url("/report")).await?;
    b.click("#job-save").await?;
    b.wait_text("#f-name-error", w.already_exists).await?;

    // Users and tokens, and the audit log of what the browser did.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(json!({"username": "vera", "password": VIEWER_PASSWORD, "role": "viewer"})),
        )
        .await?;
    anyhow::ensure!(
        status == StatusCode::CREATED,
        "adding a viewer: {status} {body}"
    );
    b.goto(&s.url("/#/users")).await?;
    b.wait_text("#users-results", "vera").await?;
    b.fill("input[name='name']", "deploy-script").await?;
    b.click("#new-token button[type='submit']").await?;
    b.wait_text(".token-once", w.not_shown_again).await?;
    b.wait_text("#tokens-results", "deploy-script").await?;
    shot(b, w, "users").await?;
    b.goto(&s.url("/#/audit")).await?;
    b.wait_text("#audit-results", "pause").await?;
    shot(b, w, "audit").await?;

    // A phone-width window: the sidebar folds into a menu.
    b.client.set_window_size(390, 844).await?;
    b.goto(&s.url("/#/")).await?;
    b.wait_text(".card", "nightly-report").await?;
    assert!(!b.find("#sidebar").await?.is_displayed().await?);
    assert!(b.find("#menu-toggle").await?.is_displayed().await?);
    shot(b, w, "phone-overview").await?;
    b.click("#menu-toggle").await?;
    assert!(b.find("#sidebar").await?.is_displayed().await?);
    b.client.set_window_size(1366, 900).await?;

    // A viewer: no edit controls anywhere, and the server refuses the change made by hand.
    b.click("#logout").await?;
    b.wait_text("main h1", w.log_in).await?;
    b.fill("#username", "vera").await?;
    b.fill("#password", VIEWER_PASSWORD).await?;
    b.click("#login-submit").await?;
    b.wait_text("#user-box", w.viewer).await?;
    b.goto(&s.url(&format!("/#/jobs/{job_id}"))).await?;
    b.wait_text("main h1", "nightly-report").await?;
    b.wait_text("#job-history", w.failed).await?;
    for control in [
        "#job-pause",
        "#job-resume",
        "#job-trigger",
        "#job-edit",
        "#job-delete",
    ] {
        assert!(!b.exists(control).await?, "a viewer sees {control}");
    }
    b.goto(&s.url("/#/jobs")).await?;
    b.wait_text("#jobs-results", "nightly-report").await?;
    assert!(!b.exists("#new-job").await?, "a viewer sees New job");
    b.goto(&s.url("/#/agents")).await?;
    b.wait_text("#agents-results", "zone=a").await?;
    assert!(
        !b.exists("input.weight").await?,
        "a viewer can edit weights"
    );
    assert!(!b.exists("[data-drain]").await?, "a viewer can drain");
    assert!(
        !b.find("a[href='#/users']").await?.is_displayed().await?,
        "a viewer is offered Users"
    );
    // The same session, by hand: resume the job and change the weight, CSRF header and all.
    let refused = b
        .client
        .execute_async(
            r#"const [job, agent, done] = arguments;
               const csrf = document.cookie.split('; ').find((c) => c.startsWith('crony_csrf=')).split('=')[1];
               const send = (method, path, body) => fetch('/api/v1' + path, {method,
                 headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                 body: body && JSON.stringify(body)})
                 .then(async (r) => [r.status, (await r.json()).error.code]);
               Promise.all([send('POST', `/jobs/${job}/resume`), send('PATCH', `/agents/${agent}`, {weight: 1})])
                 .then(done, (e) => done(String(e)));"#,
            vec![json!(job_id), json!(agent_id)],
        )
        .await?;
    assert_eq!(
        refused,
        json!([[403, "permission_denied"], [403, "permission_denied"]])
    );
    let job = api.get(&format!("/api/v1/jobs/{job_id}")).await?;
    assert_eq!(job["enabled"], false, "{job}");
    let a = api.get(&format!("/api/v1/agents/{agent_id}")).await?;
    assert_eq!(a["weight_override"], 7, "{a}");
    Ok(())
}
