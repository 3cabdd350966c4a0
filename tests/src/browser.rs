//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`)
//! for the dashboard's end-to-end tests: chromedriver on a free loopback port, a fresh profile
//! per browser, and waits on page conditions with deadlines instead of sleeps.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::process::{free_port, signal, spawn};
use crate::wait_until;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a step waits for.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a laptop-sized window. Fails (never
    /// skips) when the Debian packages are missing, saying which.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_in(None).await
    }

    /// [`Browser::start`], with the browser's preferred language (`navigator.languages`)
    /// set to `lang` when given, as a user's browser in that language would be.
    pub async fn start_in(lang: Option<&str>) -> anyhow::Result<Self> {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            anyhow::ensure!(
                Path::new(path).exists(),
                "{path} (Debian package {package}) is missing: the dashboard's browser tests \
                 need the Debian packages chromium and chromium-driver (apt-get install -y chromium chromium-driver, \
                 or ./scripts/dev test installs them)"
            );
        }
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = spawn(command).context("starting chromedriver")?;
        let url = format!("http://127.0.0.1:{port}");
        let status_url = format!("{url}/status");
        wait_until("chromedriver ready", PATIENCE, || {
            let status_url = status_url.clone();
            async move {
                let body: Value = match reqwest::get(&status_url).await {
                    Ok(r) => r.json().await.map_err(|e| e.to_string())?,
                    Err(e) => return Err(e.to_string()),
                };
                Ok((body["value"]["ready"] == true).then_some(()))
            }
        })
        .await?;

        let profile = tempfile::tempdir()?;
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1366,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut args = args;
        let mut options = json!({"binary": CHROMIUM});
        if let Some(lang) = lang {
            args.push(format!("--lang={lang}"));
            args.push(format!("--accept-lang={lang}"));
            options["prefs"] = json!({"intl": {"accept_languages": lang}});
        }
        options["args"] = json!(args);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .context("opening a Chromium session through chromedriver")?;
        Ok(Self {
            client,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The first element matching `css`, once there is one.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let client = self.client.clone();
        wait_until(&format!("an element {css}"), PATIENCE, || {
            let client = client.clone();
            async move {
                match client.find(Locator::Css(css)).await {
                    Ok(e) => Ok(Some(e)),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn exists(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!self.client.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// Waits until the text of an element matching `css` contains `text`; that text.
    pub async fn wait_text(&self, css: &str, text: &str) -> anyhow::Result<String> {
        self.wait_text_within(css, text, PATIENCE).await
    }

    pub async fn wait_text_within(
        &self,
        css: &str,
        text: &str,
        within: Duration,
    ) -> anyhow::Result<String> {
        let client = self.client.clone();
        wait_until(&format!("{css} showing {text:?}"), within, || {
            let client = client.clone();
            async move {
                let mut seen = Vec::new();
                for e in client
                    .find_all(Locator::Css(css))
                    .await
                    .map_err(|e| e.to_string())?
                {
                    // The element may be replaced by a refresh between find and read.
                    if let Ok(t) = e.text().await {
                        if t.contains(text) {
                            return Ok(Some(t));
                        }
                        seen.push(t);
                    }
                }
                Err(format!("saw {seen:?}"))
            }
        })
        .await
    }

    /// Waits for `css`, scrolls it to the middle of the window (clear of sticky bars), then
    /// clicks it.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.click_element(&element).await
    }

    pub async fn click_element(&self, element: &Element) -> anyhow::Result<()> {
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'})",
                vec![serde_json::to_value(element)?],
            )
            .await?;
        element.click().await?;
        Ok(())
    }

    /// Replaces the value of the input matching `css` by typing `text`.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.find(css).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    /// Runs `script` in the page (as a function body; `arguments` are `args`).
    pub async fn run(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Writes a PNG of the window to `docs/screenshots/<name>.png` (`name` may hold a
    /// folder, such as `zh-CN/jobs`), only when
    /// `CRONY_SCREENSHOTS=1`: CI runs must not change the committed images.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        if std::env::var("CRONY_SCREENSHOTS").as_deref() != Ok("1") {
            return Ok(());
        }
        let png = self.client.screenshot().await?;
        let path = screenshots_dir().join(format!("{name}.png"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
        signal(&self.driver, libc::SIGTERM);
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `quit` this finds the process gone; on a failed test it stops chromedriver.
        signal(&self.driver, libc::SIGKILL);
    }
}

/// `docs/screenshots` of the repository.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("screenshots")
}
