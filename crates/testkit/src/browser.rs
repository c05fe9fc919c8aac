//! A real headless Chromium, driven through ChromeDriver, for tests of the pages people see.
//!
//! Start each test with
//!
//! ```ignore
//! let Some(browser) = browser::Browser::start().await else { return };
//! browser.goto(&format!("{base}/reports")).await;
//! assert_eq!(browser.text("h1").await, "Reports");
//! browser.assert_no_console_errors().await;
//! ```
//!
//! # API
//!
//! - [`Browser::start`] starts ChromeDriver on a free 127.0.0.1 port and opens a session of
//!   headless Chromium with a fresh profile. It returns `None` (after one `SKIPPED: ...`
//!   line on the terminal, as [`apiserver::shared`](crate::apiserver::shared) does) when
//!   Chromium or ChromeDriver is not installed here; the test then returns early and
//!   passes. Programs that exist but do not start are a failure: it panics, quoting
//!   ChromeDriver's log.
//! - Pages: [`goto`](Browser::goto), [`current_url`](Browser::current_url),
//!   [`title`](Browser::title), [`source`](Browser::source),
//!   [`execute`](Browser::execute).
//! - Elements by CSS selector: [`find`](Browser::find), [`find_all`](Browser::find_all),
//!   [`count`](Browser::count), [`text`](Browser::text), [`texts`](Browser::texts),
//!   [`attr`](Browser::attr), [`click`](Browser::click), [`fill`](Browser::fill) (types
//!   into a field, firing the events a person's typing would), [`select`](Browser::select)
//!   and [`submit`](Browser::submit) (clicks the form's submit button).
//! - Waiting, by polling until a deadline ([`set_wait_timeout`](Browser::set_wait_timeout),
//!   10 s unless set): [`wait_until`](Browser::wait_until) and [`wait_for`](Browser::wait_for)
//!   for any condition, [`wait_for_element`](Browser::wait_for_element) and
//!   [`wait_for_url`](Browser::wait_for_url). Tests never sleep for a fixed time.
//! - The console: [`console_log`](Browser::console_log) (every entry so far: `console.*`
//!   calls, uncaught exceptions, Content-Security-Policy violations, failed loads),
//!   [`console_problems`](Browser::console_problems) (the errors and warnings),
//!   [`wait_for_console`](Browser::wait_for_console) and
//!   [`assert_no_console_errors`](Browser::assert_no_console_errors).
//! - Downloads: [`download_dir`](Browser::download_dir) and
//!   [`wait_for_download`](Browser::wait_for_download) (the next completed file).
//! - [`screenshot`](Browser::screenshot) writes a PNG for a person to look at.
//! - [`client`](Browser::client) is the underlying [`fantoccini::Client`] for anything
//!   else; [`fantoccini`] is re-exported so tests need not depend on it.
//!
//! Every method panics, with what it was doing, when the browser fails: these are tests.
//!
//! # One browser per test
//!
//! Each test starts its own ChromeDriver and Chromium (1.5 to 2 s on the two-core
//! machines; [`Browser::startup_time`] tells). A browser shared by the tests of a binary would save that, but
//! the WebDriver client belongs to the tokio runtime that made it, and every
//! `#[tokio::test]` has a runtime of its own; and a shared browser carries cookies, the
//! console log, open downloads and a half-loaded page from one test into the next. A
//! browser of its own per test makes each test's console and downloads its own.
//!
//! # Programs
//!
//! `CHROMIUM_BIN` and `CHROMEDRIVER_BIN` name the programs; otherwise `chromium` and
//! `chromedriver` on the PATH, which Debian's packages `chromium` and `chromium-driver`
//! install (`scripts/chromium.sh ensure`, run by `make test`). They must be the same
//! version, as Debian's are.
//!
//! Chromium runs with `--headless --no-sandbox --disable-gpu --disable-dev-shm-usage`, no
//! background networking, component updates, first-run dialogs or sync, with a viewport
//! (what pages lay out in and screenshots show) of 1280x900 CSS pixels ([`WINDOW_WIDTH`],
//! [`WINDOW_HEIGHT`]). Everything a browser writes (its profile,
//! downloads, ChromeDriver's log) lives in a fresh temporary directory.
//!
//! # Lifetime
//!
//! Dropping the [`Browser`] kills ChromeDriver and every Chromium process of its session
//! (and their process groups), waits until they are gone and removes the directory. If the
//! test process dies instead, the kernel kills ChromeDriver (it gets `PR_SET_PDEATHSIG`),
//! and Chromium too where `setpriv` is there to give it the same signal (util-linux, on
//! every Debian system). That signal comes when the *thread* that started ChromeDriver
//! ends, so start the browser from the test's own task (a `#[tokio::test]` body), never
//! inside `spawn_blocking`, whose threads end when idle. When the start fails, the
//! directory is kept and named in the panic message.

// Each test binary uses only part of this API.
#![allow(dead_code)]

pub use fantoccini;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::apiserver::skip;

/// The size of the viewport in CSS pixels, which is what pages lay out in and screenshots
/// show.
pub const WINDOW_WIDTH: u32 = 1280;
/// See [`WINDOW_WIDTH`].
pub const WINDOW_HEIGHT: u32 = 900;

/// How long [`Browser::wait_until`] and the other waits poll, unless
/// [`Browser::set_wait_timeout`] says otherwise.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two polls of a wait.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long ChromeDriver gets to answer its `/status`, and then Chromium to open a session.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(20);
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the processes get to disappear once killed.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at starting, when the port picked as free was taken before ChromeDriver bound it.
const START_ATTEMPTS: usize = 3;
/// Lines of ChromeDriver's log quoted in a startup failure.
const LOG_TAIL_LINES: usize = 40;

/// The arguments Chromium runs with; see the module documentation.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--no-default-browser-check",
    "--password-store=basic",
];

/// A headless Chromium in a WebDriver session of its own; see the module documentation.
pub struct Browser {
    client: Client,
    driver: Child,
    /// The temporary directory: `profile/`, `downloads/`, `chromedriver.log`. Removed on
    /// drop, after the processes are gone.
    dir: PathBuf,
    profile: PathBuf,
    downloads: PathBuf,
    /// Every console entry read so far: ChromeDriver hands each out once.
    console: Mutex<Vec<ConsoleEntry>>,
    /// The downloads [`Browser::wait_for_download`] has already returned.
    downloads_seen: Mutex<HashSet<PathBuf>>,
    wait_timeout: Duration,
    startup: Duration,
}

/// One entry of the browser's console log, as ChromeDriver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEntry {
    pub level: Level,
    /// Where it came from: `console-api` (a `console.*` call), `javascript` (an uncaught
    /// exception), `network` (a failed load), `security` (a Content-Security-Policy
    /// violation), among others.
    pub source: String,
    /// The text, which for `console-api` starts with the script's URL and position.
    pub message: String,
}

/// The severity of a [`ConsoleEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

impl fmt::Display for ConsoleEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?} {}] {}", self.level, self.source, self.message)
    }
}

impl ConsoleEntry {
    /// An error or a warning: what [`Browser::assert_no_console_errors`] refuses.
    pub fn is_problem(&self) -> bool {
        self.level >= Level::Warning
    }

    fn from_json(entry: &Value) -> ConsoleEntry {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
        let level = match text("level") {
            "SEVERE" => Level::Error,
            "WARNING" => Level::Warning,
            "INFO" => Level::Info,
            _ => Level::Debug,
        };
        ConsoleEntry {
            level,
            source: text("source").to_owned(),
            message: text("message").to_owned(),
        }
    }
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session; `None` (after one SKIPPED line)
    /// when they are not installed. Panics when they are but do not start.
    pub async fn start() -> Option<Browser> {
        let programs = match find_programs() {
            Ok(programs) => programs,
            Err(reason) => {
                skip(&reason);
                return None;
            }
        };
        let mut attempt = 1;
        loop {
            match start(&programs).await {
                Ok(browser) => return Some(browser),
                Err(failure) if failure.port_clash && attempt < START_ATTEMPTS => {
                    let _ = fs::remove_dir_all(&failure.dir);
                    attempt += 1;
                }
                Err(failure) => panic!("{}", failure.message),
            }
        }
    }

    /// The WebDriver client, for what this harness does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The temporary directory of this browser: `profile/` (Chromium's user data),
    /// `downloads/`, and ChromeDriver's `chromedriver.log` and `chromedriver.out`. Removed
    /// when the browser is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long [`start`](Self::start) took, from finding the programs to an open session.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Sets how long the waits poll before they fail.
    pub fn set_wait_timeout(&mut self, timeout: Duration) {
        self.wait_timeout = timeout;
    }

    // --- pages ---------------------------------------------------------------------------

    /// Loads `url` (absolute, or relative to the current page) and waits until its `load`
    /// event.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("browser: go to {url}: {e}"));
    }

    /// The address of the page shown now.
    pub async fn current_url(&self) -> url::Url {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("browser: read the current URL: {e}"))
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client
            .title()
            .await
            .unwrap_or_else(|e| panic!("browser: read the title: {e}"))
    }

    /// The page's DOM serialised as HTML (as it is now, after scripts ran).
    pub async fn source(&self) -> String {
        self.client
            .source()
            .await
            .unwrap_or_else(|e| panic!("browser: read the page source: {e}"))
    }

    /// Runs `script` as the body of a function called with `args` (`arguments[0]`, ...) in
    /// the page, and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("browser: run a script: {e}\n{script}"))
    }

    // --- elements ------------------------------------------------------------------------

    /// The first element matching the CSS selector `css`; panics when there is none.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!(
                "browser: find {css:?} on {}: {e}",
                self.url_for_message().await
            ),
        }
    }

    /// Every element matching `css`, in document order (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("browser: find all {css:?}: {e}"))
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.find_all(css).await.len()
    }

    /// The rendered text of the first element matching `css` (as a person sees it: hidden
    /// parts left out, whitespace collapsed).
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("browser: read the text of {css:?}: {e}"))
    }

    /// The rendered texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            texts.push(
                element
                    .text()
                    .await
                    .unwrap_or_else(|e| panic!("browser: read the text of {css:?}: {e}")),
            );
        }
        texts
    }

    /// The attribute `name` of the first element matching `css`, as written in the HTML
    /// (`None` when the element lacks it).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("browser: read attribute {name:?} of {css:?}: {e}"))
    }

    /// Clicks the first element matching `css`, as a person would (it must be visible).
    /// Does not wait for a navigation it starts: follow with a wait.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("browser: click {css:?}: {e}"));
    }

    /// Empties the field matching `css` and types `text` into it, key by key.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("browser: clear {css:?}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("browser: type into {css:?}: {e}"));
    }

    /// Chooses the `<option>` whose value is `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("browser: select {value:?} in {css:?}: {e}"));
    }

    /// Submits the form matching `css` by clicking its first submit button, as a person
    /// would. Does not wait for the navigation: follow with a wait.
    pub async fn submit(&self, css: &str) {
        let form = self
            .client
            .form(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("browser: find the form {css:?}: {e}"));
        form.submit().await.unwrap_or_else(|e| {
            panic!("browser: submit the form {css:?} (by its submit button): {e}")
        });
    }

    // --- waiting -------------------------------------------------------------------------

    /// Polls `check` until it returns `Some`, and returns that; panics, naming `what`, when
    /// the wait timeout passes first.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + self.wait_timeout;
        loop {
            if let Some(found) = check().await {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "browser: timed out after {:?} waiting for {what} (on {})",
                    self.wait_timeout,
                    self.url_for_message().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Polls `check` until it returns true; panics, naming `what`, when the wait timeout
    /// passes first.
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        self.wait_for(what, || {
            let ready = check();
            async move { ready.await.then_some(()) }
        })
        .await
    }

    /// Waits until an element matches `css`, and returns the first.
    pub async fn wait_for_element(&self, css: &str) -> Element {
        self.wait_for(&format!("an element matching {css:?}"), || async {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Waits until the current URL satisfies `accept` (say, a navigation ended on the
    /// expected path), and returns it.
    pub async fn wait_for_url(&self, what: &str, accept: impl Fn(&url::Url) -> bool) -> url::Url {
        self.wait_for(&format!("a URL {what}"), || async {
            let url = self.client.current_url().await.ok()?;
            accept(&url).then_some(url)
        })
        .await
    }

    // --- the console ---------------------------------------------------------------------

    /// Every console entry since the session began: `console.*` calls, uncaught
    /// exceptions, CSP violations, loads that failed (including HTTP errors of
    /// subresources). Entries arrive a moment after the page made them; to wait for one,
    /// use [`wait_for_console`](Self::wait_for_console).
    pub async fn console_log(&self) -> Vec<ConsoleEntry> {
        let fresh = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("browser: read the console log: {e}"));
        let mut console = self.console.lock().unwrap_or_else(PoisonError::into_inner);
        console.extend(
            fresh
                .as_array()
                .into_iter()
                .flatten()
                .map(ConsoleEntry::from_json),
        );
        console.clone()
    }

    /// The errors and warnings of [`console_log`](Self::console_log).
    pub async fn console_problems(&self) -> Vec<ConsoleEntry> {
        let mut log = self.console_log().await;
        log.retain(ConsoleEntry::is_problem);
        log
    }

    /// Waits until a console entry satisfies `accept`, and returns it.
    pub async fn wait_for_console(
        &self,
        what: &str,
        accept: impl Fn(&ConsoleEntry) -> bool,
    ) -> ConsoleEntry {
        self.wait_for(&format!("a console entry {what}"), || async {
            self.console_log()
                .await
                .into_iter()
                .find(|entry| accept(entry))
        })
        .await
    }

    /// Panics, listing them, if the console has any error or warning: a script that threw,
    /// a resource that failed to load or was refused by the Content-Security-Policy, an
    /// explicit `console.error` or `console.warn`. Pages of ours have no reason for any.
    pub async fn assert_no_console_errors(&self) {
        let problems = self.console_problems().await;
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!(
                "browser: {} console error(s) or warning(s) (on {}):\n  {}",
                problems.len(),
                self.url_for_message().await,
                list.join("\n  ")
            );
        }
    }

    // --- downloads -----------------------------------------------------------------------

    /// Where Chromium saves downloads, without asking.
    pub fn download_dir(&self) -> &Path {
        &self.downloads
    }

    /// Waits for a download to complete, and returns its path: a file in
    /// [`download_dir`](Self::download_dir) not returned before, once no download is in
    /// progress there (Chromium writes into a `.crdownload` file and renames it at the
    /// end). Downloads that complete together come out one per call, by name.
    pub async fn wait_for_download(&self) -> PathBuf {
        self.wait_for("a completed download", || async {
            let mut names: Vec<PathBuf> = fs::read_dir(&self.downloads)
                .ok()?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect();
            let name_of = |path: &Path| {
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            };
            // A download in progress, or one Chromium has not named yet.
            if names.iter().any(|path| {
                name_of(path).ends_with(".crdownload") || name_of(path).starts_with('.')
            }) {
                return None;
            }
            names.sort();
            let mut seen = self
                .downloads_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let next = names.into_iter().find(|path| !seen.contains(path))?;
            seen.insert(next.clone());
            Some(next)
        })
        .await
    }

    // --- screenshots ---------------------------------------------------------------------

    /// Saves a PNG of the window as `<name>.png` in `$COMPLIANCE_SCREENSHOTS`, or else in
    /// `compliance-screenshots/` under the system's temporary directory, and returns its
    /// path. For a person to look at; nothing checks them and they are never committed.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("browser: take a screenshot: {e}"));
        let dir = screenshot_dir();
        fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("browser: create {}: {e}", dir.display()));
        let file_name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{file_name}.png"));
        fs::write(&path, png).unwrap_or_else(|e| panic!("browser: write {}: {e}", path.display()));
        path
    }

    /// The current URL for a failure message, or why there is none.
    async fn url_for_message(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("unknown page: {e}"),
        }
    }
}

/// Where [`Browser::screenshot`] writes.
pub fn screenshot_dir() -> PathBuf {
    non_empty_env("COMPLIANCE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("compliance-screenshots"))
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_session(&mut self.driver, &self.profile);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// ChromeDriver's log endpoint, which hands out (once) the browser's console entries
/// collected under the `goog:loggingPrefs` capability. Not part of W3C WebDriver, so
/// fantoccini has no command for it.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

// --- starting ----------------------------------------------------------------------------

/// The programs to run.
struct Programs {
    chromium: PathBuf,
    chromedriver: PathBuf,
    /// util-linux's `setpriv`, to give Chromium a parent-death signal; optional.
    setpriv: Option<PathBuf>,
}

fn find_programs() -> Result<Programs, String> {
    const HINT: &str = "run scripts/chromium.sh ensure";
    let find = |variable: &str, program: &str, package: &str| match non_empty_env(variable) {
        Some(path) if Path::new(&path).is_file() => Ok(PathBuf::from(path)),
        Some(path) => Err(format!(
            "{program} not found: {variable}={} ({HINT})",
            path.to_string_lossy()
        )),
        None => on_path(program).ok_or_else(|| {
            format!("{program} not on the PATH (install the Debian package {package}; {HINT})")
        }),
    };
    Ok(Programs {
        chromium: find("CHROMIUM_BIN", "chromium", "chromium")?,
        chromedriver: find("CHROMEDRIVER_BIN", "chromedriver", "chromium-driver")?,
        setpriv: on_path("setpriv"),
    })
}

fn non_empty_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

struct StartFailure {
    message: String,
    dir: PathBuf,
    port_clash: bool,
}

async fn start(programs: &Programs) -> Result<Browser, StartFailure> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("cis-browser-")
        .tempdir()
        .map_err(|e| StartFailure {
            message: format!("browser: create a temporary directory: {e}"),
            dir: PathBuf::new(),
            port_clash: false,
        })?
        .keep();
    let profile = dir.join("profile");
    let downloads = dir.join("downloads");
    let log = dir.join("chromedriver.log");
    let mut driver = None;
    let outcome = async {
        for sub in [&profile, &downloads] {
            fs::create_dir(sub).map_err(|e| format!("create {}: {e}", sub.display()))?;
        }
        let launcher = launcher(programs, &dir)?;
        let port = free_port()?;
        driver = Some(spawn_driver(&programs.chromedriver, port, &log, &dir)?);
        let child = driver.as_mut().expect("just set");
        wait_for_driver(port, child).await?;
        let capabilities = capabilities(&launcher, &profile, &downloads);
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        let driver_url = format!("http://127.0.0.1:{port}/");
        let connect = builder.connect(&driver_url);
        let client = tokio::time::timeout(SESSION_TIMEOUT, connect)
            .await
            .map_err(|_| format!("Chromium did not open a session within {SESSION_TIMEOUT:?}"))?
            .map_err(|e| format!("Chromium did not open a session: {e}"))?;
        fit_viewport(&client).await?;
        Ok::<_, String>(client)
    }
    .await;
    match (outcome, driver) {
        (Ok(client), Some(driver)) => Ok(Browser {
            client,
            driver,
            dir,
            profile,
            downloads,
            console: Mutex::new(Vec::new()),
            downloads_seen: Mutex::new(HashSet::new()),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            startup: started.elapsed(),
        }),
        (outcome, mut driver) => {
            if let Some(driver) = driver.as_mut() {
                kill_session(driver, &profile);
            }
            let problem = outcome.err().unwrap_or_default();
            let tail = log_tail(&log);
            let output = log_tail(&dir.join("chromedriver.out"));
            Err(StartFailure {
                port_clash: tail.contains("Address already in use")
                    || output.contains("Address already in use"),
                message: format!(
                    "browser: ChromeDriver and Chromium did not start: {problem}\n\
                     (files kept in {dir})\n\
                     --- chromedriver.log (last {LOG_TAIL_LINES} lines) ---\n{tail}\n\
                     --- chromedriver's output ---\n{output}",
                    dir = dir.display()
                ),
                dir,
            })
        }
    }
}

/// The program ChromeDriver runs as Chromium: a script running the real one under
/// `setpriv --pdeathsig KILL`, so that Chromium dies with ChromeDriver even when nobody
/// gets to drop the [`Browser`]; Chromium itself when there is no `setpriv`.
fn launcher(programs: &Programs, dir: &Path) -> Result<PathBuf, String> {
    let Some(setpriv) = &programs.setpriv else {
        return Ok(programs.chromium.clone());
    };
    let quote = |path: &Path| format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"));
    let script = format!(
        "#!/bin/sh\nexec {} --pdeathsig KILL -- {} \"$@\"\n",
        quote(setpriv),
        quote(&programs.chromium)
    );
    let path = dir.join("chromium");
    fs::write(&path, script).map_err(|e| format!("write {}: {e}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("make {} executable: {e}", path.display()))?;
    Ok(path)
}

/// The session's capabilities: headless Chromium with a fresh profile, downloads saved
/// without asking, and the browser's console kept for [`Browser::console_log`].
fn capabilities(
    chromium: &Path,
    profile: &Path,
    downloads: &Path,
) -> serde_json::Map<String, Value> {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}"));
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": false,
            },
        },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Resizes the window so that the page's viewport, what screenshots show, is
/// [`WINDOW_WIDTH`] x [`WINDOW_HEIGHT`]: headless Chromium keeps room for browser controls
/// it does not draw, so `--window-size` alone leaves the viewport shorter.
async fn fit_viewport(client: &Client) -> Result<(), String> {
    let margins = client
        .execute(
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
            Vec::new(),
        )
        .await
        .map_err(|e| format!("measure the window: {e}"))?;
    let margin = |i: usize| {
        margins
            .get(i)
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0)
    };
    client
        .set_window_size(WINDOW_WIDTH + margin(0), WINDOW_HEIGHT + margin(1))
        .await
        .map_err(|e| format!("resize the window: {e}"))
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("find a free port: {e}"))
}

/// Starts ChromeDriver on `port`, in a process group of its own, killed by the kernel if
/// the thread that started it ends.
#[allow(unsafe_code)] // test support only: pre_exec to tie ChromeDriver's life to this process
fn spawn_driver(chromedriver: &Path, port: u16, log: &Path, dir: &Path) -> Result<Child, String> {
    let output = dir.join("chromedriver.out");
    let out = File::create(&output).map_err(|e| format!("create {}: {e}", output.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("open {}: {e}", output.display()))?;
    let mut command = Command::new(chromedriver);
    command
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the line above took effect: nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| format!("start {}: {e}", chromedriver.display()))
}

/// Polls ChromeDriver's `/status` until it says it is ready.
async fn wait_for_driver(port: u16, driver: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + DRIVER_TIMEOUT;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("chromedriver exited ({status})"));
        }
        match http_get(port, "/status").await {
            Ok(body) if body.contains(r#""ready":true"#) => return Ok(()),
            Ok(body) => last = body,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Err(format!(
        "chromedriver was not ready after {DRIVER_TIMEOUT:?}: {last}"
    ))
}

/// One GET to ChromeDriver, returning the response's body. ChromeDriver keeps connections
/// open whatever the request says, so the body ends where its `Content-Length` says.
async fn http_get(port: u16, path: &str) -> io::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before the whole answer",
                ));
            }
            response.extend_from_slice(&chunk[..read]);
            let text = String::from_utf8_lossy(&response);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .filter_map(|line| line.split_once(':'))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return Ok(body.to_owned());
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in 2 s")))
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

// --- stopping ----------------------------------------------------------------------------

/// Kills ChromeDriver and every process of its Chromium (found as ChromeDriver's
/// descendants, and by the profile directory on their command lines, which catches any that
/// left the tree), with their process groups; then waits, for a while, until they are gone.
fn kill_session(driver: &mut Child, profile: &Path) {
    let own_group = own_process_group();
    let marker = profile.as_os_str().as_encoded_bytes().to_vec();
    let mut targets = session_processes(driver.id(), &marker);
    for &(pid, group) in &targets {
        if group != own_group && group > 1 {
            signal(-group, libc::SIGKILL);
        }
        signal(pid, libc::SIGKILL);
    }
    // ChromeDriver's own group (it was started in one of its own).
    if let Ok(pid) = libc::pid_t::try_from(driver.id()) {
        signal(-pid, libc::SIGKILL);
    }
    let _ = driver.kill();
    let _ = driver.wait();
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        // Stragglers: processes forked between the scan and the kill.
        for (pid, _) in session_processes(0, &marker) {
            signal(pid, libc::SIGKILL);
            targets.push((pid, 0));
        }
        targets.retain(|&(pid, _)| u32::try_from(pid).is_ok_and(crate::process::alive));
        if targets.is_empty() || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(pid, process group)` of every process descending from `root` (none when `root` is 0)
/// or whose command line contains `marker`.
fn session_processes(root: u32, marker: &[u8]) -> Vec<(libc::pid_t, libc::pid_t)> {
    // pid -> (parent, group)
    let mut table: HashMap<libc::pid_t, (libc::pid_t, libc::pid_t)> = HashMap::new();
    let mut matching = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(parent), Some(group)) = (
            fields.get(1).and_then(|f| f.parse().ok()),
            fields.get(2).and_then(|f| f.parse().ok()),
        ) else {
            continue;
        };
        table.insert(pid, (parent, group));
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline"))
            && cmdline.windows(marker.len()).any(|w| w == marker)
        {
            matching.push(pid);
        }
    }
    let mut found: HashSet<libc::pid_t> = matching.into_iter().collect();
    if let Ok(root) = libc::pid_t::try_from(root)
        && root > 0
    {
        // Descendants, generation by generation.
        let mut frontier = vec![root];
        while let Some(parent) = frontier.pop() {
            for (&pid, &(ppid, _)) in &table {
                if ppid == parent && found.insert(pid) {
                    frontier.push(pid);
                }
            }
        }
    }
    found
        .into_iter()
        .filter(|&pid| pid != std::process::id() as libc::pid_t)
        .filter_map(|pid| table.get(&pid).map(|&(_, group)| (pid, group)))
        .collect()
}

#[allow(unsafe_code)] // test support only: std has no getpgrp
fn own_process_group() -> libc::pid_t {
    // SAFETY: getpgrp only reads this process's group.
    unsafe { libc::getpgrp() }
}

#[allow(unsafe_code)] // test support only: std can only SIGKILL its own children
fn signal(target: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill only sends a signal.
    unsafe {
        libc::kill(target, signal);
    }
}
