//! A real browser for end-to-end tests: headless Chromium driven over WebDriver (chromedriver)
//! with `fantoccini`.
//!
//! ```ignore
//! let browser = Browser::start().await;
//! browser.goto(&format!("{}/signin", server.url)).await;
//! browser.find("button[data-theme-toggle]").await.click().await.unwrap();
//! browser.screenshot("signin-dark").await;
//! browser.assert_no_console_errors().await;
//! browser.close().await;
//! ```
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver` packages, which
//! `scripts/test` installs; `MESHER_TEST_CHROMIUM` and `MESHER_TEST_CHROMEDRIVER` override their
//! paths. A missing browser fails the test: it is never skipped. Each browser gets a fresh
//! profile directory, and everything it started is stopped when it is closed or dropped.
//!
//! Screenshots go to `docs/screenshots/<name>.png` with `MESHER_SCREENSHOTS=1`, else to the
//! target directory's `tmp/screenshots/` (where [`Browser::artifact`] always writes).

#![allow(dead_code)] // Each test binary uses a different subset.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

/// How long to wait for chromedriver to listen, and for elements to appear.
const WAIT: Duration = Duration::from_secs(15);

/// A headless Chromium session and the chromedriver serving it.
pub struct Browser {
    /// The WebDriver client, for anything this wrapper does not cover.
    pub client: Client,
    driver: Child,
    driver_url: String,
    session: String,
    profile: TempDir,
    closed: bool,
}

fn tool(env: &str, default: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.to_string()));
    assert!(
        path.exists(),
        "{} not found: the browser tests need Debian's `{package}` package. Run scripts/test \
         (it installs it) or `apt-get install -y chromium chromium-driver`, or set {env}.",
        path.display()
    );
    path
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium with a fresh profile.
    ///
    /// # Panics
    /// When Chromium or chromedriver is missing or does not start.
    pub async fn start() -> Browser {
        let chromium = tool("MESHER_TEST_CHROMIUM", "/usr/bin/chromium", "chromium");
        let chromedriver = tool(
            "MESHER_TEST_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            "chromium-driver",
        );
        let profile = tempfile::Builder::new()
            .prefix("mesher-chromium-")
            .tempdir()
            .unwrap();
        let (driver, driver_url) = start_driver(&chromedriver, profile.path()).await;

        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,860",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                ],
            }),
        );
        // Console messages, uncaught exceptions, CSP violations and failed loads, read back
        // through chromedriver's log endpoint.
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium did not start through chromedriver: {e}\nchromedriver log:\n{}",
                    std::fs::read_to_string(profile.path().join("chromedriver.log"))
                        .unwrap_or_default()
                )
            });
        let session = client
            .session_id()
            .await
            .unwrap()
            .expect("a WebDriver session has an id");
        Browser {
            client,
            driver,
            driver_url,
            session,
            profile,
            closed: false,
        }
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The first element matching `css`, waiting up to 15 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Types `text` into the first element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading {css}: {e}"))
    }

    /// Presses `keys` one after the other on whatever has the focus, as a keyboard does (a
    /// [`fantoccini::key::Key`] converts into a `char`).
    pub async fn press(&self, keys: &[char]) {
        let mut actions = KeyActions::new("keyboard".to_string());
        for &key in keys {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("pressing {keys:?}: {e}"));
    }

    /// Fills the sign-in form that is open and submits it.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.type_into("input#email", email).await;
        self.type_into("input#password", password).await;
        self.click("form button[type=submit]").await;
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.unwrap()
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Browser log entries at error level (console errors, uncaught exceptions, CSP violations,
    /// failed loads) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session);
        let response: Value = reqwest::Client::new()
            .post(&url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = response["value"]
            .as_array()
            .unwrap_or_else(|| panic!("chromedriver's log endpoint answered {response}"));
        entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Fails when the browser logged an error since the last check.
    pub async fn assert_no_console_errors(&self) {
        let errors = self.console_errors().await;
        assert!(
            errors.is_empty(),
            "browser console errors:\n{}",
            errors.join("\n")
        );
    }

    /// The page's accessibility violations found by axe-core, one line each (rule, impact,
    /// help and the offending elements); empty when there is none.
    ///
    /// axe-core comes from npm (`scripts/test` installs it); `MESHER_TEST_AXE` is the path of
    /// its `axe.min.js`. Missing, it fails the test: it is never skipped. The script goes in
    /// through WebDriver, which the page's Content-Security-Policy does not govern, so the
    /// dashboard's policy stays as strict as it is.
    ///
    /// # Panics
    /// When axe-core is missing or fails to run.
    pub async fn axe_violations(&self) -> Vec<String> {
        let path = std::env::var("MESHER_TEST_AXE").map_or_else(
            |_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default())
                    .join(".cache/mesher-tools/node_modules/axe-core/axe.min.js")
            },
            PathBuf::from,
        );
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core not found at {} ({e}): the accessibility tests need it. Run \
                 scripts/test (it installs it) or `npm install --prefix ~/.cache/mesher-tools \
                 axe-core`, or set MESHER_TEST_AXE to its axe.min.js.",
                path.display()
            )
        });
        self.client
            .execute(&format!("{source}\nreturn null;"), Vec::new())
            .await
            .unwrap_or_else(|e| panic!("injecting axe-core: {e}"));
        let found = self
            .client
            .execute_async(
                "var done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(function (r) {
                   done(r.violations.map(function (v) {
                     return v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                       v.nodes.slice(0, 5).map(function (n) { return n.target.join(' '); })
                         .join(', ');
                   }));
                 }, function (e) { done('axe failed: ' + e); });",
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("running axe-core: {e}"));
        let Value::Array(found) = found else {
            panic!("{found}");
        };
        found
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Saves a PNG of the viewport as `<name>.png` (see the module docs for where) and returns
    /// its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Saves a PNG of the viewport as `<name>.png` among the test artifacts (the target
    /// directory's `tmp/screenshots/`), never in the docs: for pages worth a look but not a
    /// place in the documentation.
    pub async fn artifact(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = artifact_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(mut self) {
        // Best effort: the drop below stops whatever is left anyway.
        let _ = self.client.clone().close().await;
        self.closed = true;
    }
}

fn screenshot_dir() -> PathBuf {
    if std::env::var("MESHER_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        artifact_dir()
    }
}

fn artifact_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// Starts chromedriver on a free port (retrying if another process takes the port first) and
/// waits until it answers.
async fn start_driver(chromedriver: &Path, dir: &Path) -> (Child, String) {
    let log = dir.join("chromedriver.log");
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < WAIT {
            if child.try_wait().unwrap().is_some() {
                break; // Exited: most likely the port was taken. Try another.
            }
            let ready = reqwest::get(format!("{url}/status"))
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                return (child, url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "chromedriver did not start; its log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed before `close` leaves Chromium running: chromedriver does not stop
        // it when killed. Find the processes of this profile (and only those) by their command
        // line, which names the profile's unique directory, and stop them by pid.
        if !self.closed {
            let marker = format!(
                "--user-data-dir={}",
                self.profile.path().join("profile").display()
            );
            for pid in pids_with_arg(&marker) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Processes whose command line has the argument `arg` (Linux: from /proc).
fn pids_with_arg(arg: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|a| a == arg.as_bytes()))
        })
        .collect()
}
