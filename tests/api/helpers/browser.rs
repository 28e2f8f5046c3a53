//! A real browser for the tests: headless Chromium, driven over WebDriver (`fantoccini`) by a
//! ChromeDriver of the test's own, with a fresh profile, a window size and a colour scheme.
//!
//! Browser tests run one at a time in the process (the machine has 2 cores, and a Chromium
//! takes most of one). Without Chromium or ChromeDriver a test is skipped with a printed
//! reason, except under CI (`CI=true`), where that is a failure. No tool here downloads a
//! browser: `CHROMEDRIVER` and `CHROMIUM` name the binaries, else Debian's paths are used.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{
    Client, ClientBuilder, Locator,
    actions::{InputSource, KeyAction, KeyActions},
    elements::Element,
    key::Key,
    wd::{Capabilities, WebDriverCompatibleCommand},
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::{Mutex, MutexGuard};

/// How long a page may take to show what a test waits for: a bound for failures, not a
/// measurement.
const PATIENCE: Duration = Duration::from_secs(15);

/// One browser at a time in this process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The size of the browser's viewport, in CSS pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

/// A laptop's window.
pub const DESKTOP: Viewport = Viewport {
    width: 1280,
    height: 800,
};

/// A phone held upright (an iPhone X/11 Pro's CSS size).
pub const PHONE: Viewport = Viewport {
    width: 375,
    height: 812,
};

/// The colour scheme the browser asks pages for (`prefers-color-scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// Blink's own preference (`blink::mojom::PreferredColorScheme`: 0 dark, 1 light), which
    /// headless Chromium honours where `--force-dark-mode` depends on the platform's theme.
    fn switch(self) -> &'static str {
        match self {
            Self::Light => "--blink-settings=preferredColorScheme=1",
            Self::Dark => "--blink-settings=preferredColorScheme=0",
        }
    }
}

/// Where Chromium and ChromeDriver are.
#[derive(Clone, Debug)]
pub struct BrowserTools {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

/// Chromium and ChromeDriver when both are installed; otherwise the test is skipped with a
/// printed reason, except under CI (`CI=true`), where that is a failure.
pub fn browser_available(test: &str) -> Option<BrowserTools> {
    let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = binary("CHROMIUM", "/usr/bin/chromium");
    if chromedriver.is_file() && chromium.is_file() {
        return Some(BrowserTools {
            chromedriver,
            chromium,
        });
    }
    super::skip(
        test,
        &format!(
            "install Debian's chromium and chromium-driver ({} and {}), or set CHROMEDRIVER \
             and CHROMIUM",
            chromedriver.display(),
            chromium.display()
        ),
    );
    None
}

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A ChromeDriver process in a process group of its own: the Chromium it starts is in that
/// group too, so dropping this kills both even when the test panicked mid-session.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A headless Chromium with a fresh profile, and this test's turn at the browser. Dropping it
/// kills the browser (faster than closing the session, and sure to happen on a panic) and
/// gives the next test its turn.
pub struct Chrome {
    pub client: Client,
    pub viewport: Viewport,
    pub scheme: Scheme,
    // Dropped in this order: the driver and its browser, then their profile, then the turn.
    _driver: Driver,
    _profile: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl BrowserTools {
    /// Waits for this test's turn, then starts ChromeDriver on a free port and a browser
    /// session with the flags the services notes ask for, at `viewport`, in `scheme`, with its
    /// console log kept for [`Chrome::severe_log_entries`].
    pub async fn launch(&self, viewport: Viewport, scheme: Scheme) -> Chrome {
        let turn = ONE_AT_A_TIME.lock().await;
        let profile = tempfile::tempdir().expect("profile folder");
        let port = free_port();
        let driver = Driver {
            child: Command::new(&self.chromedriver)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", self.chromedriver.display())),
        };
        let client = connect(port, &self.capabilities(profile.path(), viewport, scheme)).await;
        let chrome = Chrome {
            client,
            viewport,
            scheme,
            _driver: driver,
            _profile: profile,
            _turn: turn,
        };
        chrome.fit_viewport().await;
        chrome
    }

    fn capabilities(&self, profile: &Path, viewport: Viewport, scheme: Scheme) -> Capabilities {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Nothing but loopback is reachable: no translate or password-leak lookups.
            "--disable-features=Translate,PasswordLeakDetection,OptimizationHints,MediaRouter",
            "--hide-scrollbars",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", viewport.width, viewport.height),
            scheme.switch().to_owned(),
        ])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": args,
                // No "save password?" bubble over the page after a login.
                "prefs": {
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                    "profile.password_manager_leak_detection": false,
                },
            },
            // Console messages, JavaScript errors and CSP reports, read by `severe_log_entries`.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }
}

/// A loopback port nothing listens on (ChromeDriver takes it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Opens the WebDriver session, retrying while ChromeDriver starts listening.
async fn connect(port: u16, capabilities: &Capabilities) -> Client {
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return client,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no WebDriver session from ChromeDriver on port {port}: {e}"),
        }
    }
}

/// ChromeDriver's log endpoint (`POST /session/{id}/se/log`), outside the W3C protocol.
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

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

impl Chrome {
    /// Makes the viewport `viewport` (a phone after a laptop: one browser serves both sizes).
    pub async fn resize(&mut self, viewport: Viewport) {
        self.viewport = viewport;
        self.client
            .set_window_size(viewport.width, viewport.height)
            .await
            .unwrap();
        self.fit_viewport().await;
    }

    /// Empties the cookie jar for the page's host. Every test app is on 127.0.0.1, and cookies
    /// ignore the port: a browser moving to another app starts with this.
    pub async fn forget_cookies(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }

    /// `--window-size` sets the window; this makes the *viewport* the size asked for (the
    /// window is resized by the difference, which is nothing in headless mode today).
    async fn fit_viewport(&self) {
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .expect("viewport size");
        let (width, height) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
        let (want_width, want_height) = (
            u64::from(self.viewport.width),
            u64::from(self.viewport.height),
        );
        if (width, height) != (want_width, want_height) {
            let (outer_width, outer_height) = self.client.get_window_size().await.unwrap();
            self.client
                .set_window_size(
                    u32::try_from(outer_width + want_width - width).unwrap(),
                    u32::try_from(outer_height + want_height - height).unwrap(),
                )
                .await
                .unwrap();
        }
    }

    /// Opens `path` of the site at `address`.
    pub async fn open(&self, address: &str, path: &str) {
        self.client
            .goto(&format!("{address}{path}"))
            .await
            .unwrap_or_else(|e| panic!("{path} does not open: {e}"));
    }

    /// What the page shows, as a person reads it (`innerText`: hidden text left out).
    pub async fn text(&self) -> String {
        self.client
            .execute("return document.body.innerText", vec![])
            .await
            .expect("page text")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page shows `text`; the page's text if it never does, in the panic.
    pub async fn wait_for_text(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let shown = self.text().await;
            if shown.contains(text) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {text:?}; it shows:\n{shown}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The form field whose label starts with `label` (a `<label for>` or one wrapping it).
    pub async fn field(&self, label: &str) -> Element {
        let label = xpath_literal(label);
        let xpath = format!(
            "(//*[@id = //label[starts-with(normalize-space(.), {label})]/@for] \
             | //label[starts-with(normalize-space(.), {label})]//input)[1]"
        );
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no field labelled {label}: {e}"))
    }

    /// Whether some form field has a label starting with `label`.
    pub async fn has_field(&self, label: &str) -> bool {
        let label = xpath_literal(label);
        self.has(&format!(
            "//label[starts-with(normalize-space(.), {label})]"
        ))
        .await
    }

    /// Types `text` into the field labelled `label`, as a person would (after a click).
    pub async fn type_into(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.click().await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The button (or submit input) reading `text`.
    pub async fn button(&self, text: &str) -> Element {
        let text = xpath_literal(text);
        let xpath = format!(
            "(//button[normalize-space(.) = {text}] \
             | //input[(@type = 'submit' or @type = 'button') and @value = {text}])[1]"
        );
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text}: {e}"))
    }

    /// Whether a button reads `text`.
    pub async fn has_button(&self, text: &str) -> bool {
        self.has(&format!(
            "//button[normalize-space(.) = {}]",
            xpath_literal(text)
        ))
        .await
    }

    /// Whether a button's text starts with `start`.
    pub async fn has_button_starting(&self, start: &str) -> bool {
        self.has(&button_starting(start)).await
    }

    /// Whether anything on the page matches `xpath`.
    async fn has(&self, xpath: &str) -> bool {
        !self
            .client
            .find_all(Locator::XPath(xpath))
            .await
            .unwrap()
            .is_empty()
    }

    /// Clicks the button reading `text`.
    pub async fn click_button(&self, text: &str) {
        self.button(text).await.click().await.unwrap();
    }

    /// Clicks the first button whose text starts with `start` (a visible word followed by
    /// words for screen readers: "Hide the comment by ...").
    pub async fn click_button_starting(&self, start: &str) {
        let xpath = format!("({})[1]", button_starting(start));
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button starting {start:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the link reading `text`.
    pub async fn click_link(&self, text: &str) {
        let xpath = format!("(//a[normalize-space(.) = {}])[1]", xpath_literal(text));
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no link {text:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Presses and releases `key`, holding Shift when `shift`.
    pub async fn press(&self, key: Key, shift: bool) {
        let mut keys = KeyActions::new("keyboard".to_owned());
        if shift {
            keys = keys.then(KeyAction::Down {
                value: Key::Shift.into(),
            });
        }
        keys = keys
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        if shift {
            keys = keys.then(KeyAction::Up {
                value: Key::Shift.into(),
            });
        }
        self.client.perform_actions(keys).await.unwrap();
        self.client.release_actions().await.unwrap();
    }

    /// Types `text` on the keyboard into whatever has the focus.
    pub async fn type_keys(&self, text: &str) {
        let keys = text
            .chars()
            .fold(KeyActions::new("keyboard".to_owned()), |keys, value| {
                keys.then(KeyAction::Down { value })
                    .then(KeyAction::Up { value })
            });
        self.client.perform_actions(keys).await.unwrap();
        self.client.release_actions().await.unwrap();
    }

    /// What has the focus: its tag, its accessible-ish name (label, text or value), and
    /// whether a person can see that it has it (a computed outline or box-shadow).
    pub async fn focused(&self) -> Focused {
        let value = self
            .client
            .execute(
                r"
                const el = document.activeElement;
                if (!el || el === document.body) return null;
                const style = getComputedStyle(el);
                const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
                const shadow = style.boxShadow !== 'none' && style.boxShadow !== '';
                const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
                const name = (label || el.innerText || el.value || el.getAttribute('aria-label') || '')
                    .trim().replace(/\s+/g, ' ');
                return { tag: el.tagName.toLowerCase(), name, visible: outline || shadow,
                         outline: style.outline, shadow: style.boxShadow };
                ",
                vec![],
            )
            .await
            .unwrap();
        if value.is_null() {
            return Focused::default();
        }
        Focused {
            tag: value["tag"].as_str().unwrap_or_default().to_owned(),
            name: value["name"].as_str().unwrap_or_default().to_owned(),
            indicated: value["visible"].as_bool().unwrap_or(false),
            style: format!(
                "outline: {}; box-shadow: {}",
                value["outline"], value["shadow"]
            ),
        }
    }

    /// Presses Tab (Shift-Tab when `backwards`) until the focus is on an element whose name
    /// starts with `name`, checking at every stop that the focus can be seen.
    pub async fn tab_to(&self, name: &str, backwards: bool) -> Focused {
        for _ in 0..30 {
            self.press(Key::Tab, backwards).await;
            let focused = self.focused().await;
            assert!(
                focused.tag.is_empty() || focused.indicated,
                "on {}, the focused {} {:?} has no visible focus indicator ({})",
                self.path().await,
                focused.tag,
                focused.name,
                focused.style
            );
            if focused.name.starts_with(name) {
                return focused;
            }
        }
        panic!("Tab never reached {name:?} on {}", self.path().await);
    }

    /// Whether the page scrolls sideways (wider than the viewport).
    pub async fn scrolls_sideways(&self) -> bool {
        let value = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        value[0].as_u64() > value[1].as_u64()
    }

    /// Every piece of visible text on the page whose contrast with the background behind it is
    /// below WCAG AA (4.5:1, or 3:1 for large text: 24 px, or 18.66 px bold), computed from the
    /// browser's own computed colours, as `"ratio: text (colour on background)"`.
    pub async fn low_contrast_text(&self) -> Vec<String> {
        let found = self
            .client
            .execute(CONTRAST_SCRIPT, vec![])
            .await
            .expect("the contrast script runs");
        found
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Whether `media` (a media query) matches in this browser.
    pub async fn matches_media(&self, media: &str) -> bool {
        self.client
            .execute(
                "return matchMedia(arguments[0]).matches",
                vec![json!(media)],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap()
    }

    /// The browser's log entries since the last call that are errors (`SEVERE`: a JavaScript
    /// error, a failed load, `console.error`) or Content Security Policy reports (at any level),
    /// as `"LEVEL source: message"`. ChromeDriver empties its buffer on each read.
    pub async fn severe_log_entries(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("ChromeDriver's log endpoint (POST /session/{id}/se/log) answers");
        entries
            .as_array()
            .expect("log entries are a list")
            .iter()
            .filter(|entry| {
                entry["level"] == "SEVERE"
                    || entry["message"]
                        .as_str()
                        .is_some_and(|message| message.contains("Content Security Policy"))
            })
            .map(|entry| {
                format!(
                    "{} {}: {}",
                    entry["level"].as_str().unwrap_or_default(),
                    entry["source"].as_str().unwrap_or_default(),
                    entry["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Saves what the viewport shows to
    /// `target/screenshots/<scenario>-<width>x<height>-<scheme>.png`; that path.
    pub async fn screenshot(&self, scenario: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = screenshots_folder();
        std::fs::create_dir_all(&folder).expect("screenshots folder");
        let path = folder.join(format!(
            "{scenario}-{}x{}-{}.png",
            self.viewport.width,
            self.viewport.height,
            self.scheme.name()
        ));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }
}

/// The element that has the focus.
#[derive(Clone, Debug, Default)]
pub struct Focused {
    /// Lower-case tag name; empty when nothing (the page itself) has the focus.
    pub tag: String,
    /// Its label, text or value, spaces collapsed.
    pub name: String,
    /// Whether an outline or a box-shadow shows the focus.
    pub indicated: bool,
    style: String,
}

/// `target/screenshots` of this build (`CARGO_TARGET_DIR` when set).
pub fn screenshots_folder() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("screenshots")
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes: `concat` when it holds both
/// kinds of quote).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Walks the text nodes of the page; for each visible one, resolves the element's text colour
/// and the first opaque background behind it (ancestors' backgrounds, alpha composited), and
/// reports those under WCAG AA.
const CONTRAST_SCRIPT: &str = r#"
function rgba(value) {
  var m = value.match(/rgba?\(([^)]+)\)/);
  if (!m) return [0, 0, 0, 0];
  var p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
}
function over(top, bottom) {
  var a = top[3];
  return [0, 1, 2].map(function (i) { return top[i] * a + bottom[i] * (1 - a); }).concat([1]);
}
function background(el) {
  var layers = [];
  for (var node = el; node && node.nodeType === 1; node = node.parentElement) {
    var bg = rgba(getComputedStyle(node).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] >= 1) break;
  }
  var colour = [255, 255, 255, 1];
  for (var i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
  return colour;
}
function luminance(c) {
  var v = c.slice(0, 3).map(function (x) {
    x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
var problems = [];
var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  var text = walker.currentNode.textContent.trim();
  var el = walker.currentNode.parentElement;
  if (!text || !el) continue;
  var style = getComputedStyle(el);
  var box = el.getBoundingClientRect();
  if (style.visibility === "hidden" || style.display === "none" || box.width === 0 || box.height === 0) continue;
  if (el.closest("[hidden], .visually-hidden, .sr-only")) continue;
  var bg = background(el);
  var fg = over(rgba(style.color), bg);
  var l1 = luminance(fg), l2 = luminance(bg);
  var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  var size = parseFloat(style.fontSize);
  var large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
  if (ratio < (large ? 3 : 4.5)) {
    problems.push(ratio.toFixed(2) + ": " + text.slice(0, 40) + " (" + style.color + " on rgb(" + bg.slice(0, 3).map(Math.round) + "))");
  }
}
return problems;
"#;

/// The buttons whose text starts with `start`.
fn button_starting(start: &str) -> String {
    format!(
        "//button[starts-with(normalize-space(.), {})]",
        xpath_literal(start)
    )
}
