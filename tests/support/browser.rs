//! Headless Chromium driven through chromedriver (WebDriver) with fantoccini,
//! for the GUI tests. No npm and no downloads: Debian's `chromium` and
//! `chromium-driver` packages (`.ci/run` installs them). Without them the
//! tests print SKIP and pass.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a test waits for something to appear on the page: a ceiling,
/// not a pause; generous because a 2-core machine running the rest of the
/// suite beside Chromium (tests/support/lanes.rs) has made a first page take
/// over 45 s.
pub const WAIT: Duration = Duration::from_secs(90);
/// How long a page's scripts may take to load before it counts as stalled
/// (see [`Browser::goto`]).
const SCRIPTS_WITHIN: Duration = Duration::from_secs(15);

/// The viewport of every screenshot: what the README shows.
pub const WIDE: (u32, u32) = (1280, 800);
/// A phone-sized window, to check nothing overlaps or overflows.
pub const NARROW: (u32, u32) = (400, 800);

/// Browser tests share two CPU cores: one Chromium at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// A chromedriver process with one Chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
    pub started_in: Duration,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver runs in its own process group, with Chromium under it:
        // end the whole group, which only holds what this test started.
        let pgid = self.driver.id() as i32;
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a 1280×800 window, or
    /// returns `None` (after printing SKIP) when either is not installed.
    pub async fn start(test: &str) -> Option<Browser> {
        let chromium = find_binary(
            "CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let driver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            eprintln!(
                "SKIP {test}: chromium and chromedriver are not installed \
                 (apt-get install chromium chromium-driver; or set CHROMIUM and CHROMEDRIVER)"
            );
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let started = Instant::now();
        // The port is free when picked, but another test's server may bind
        // it before chromedriver does: then chromedriver exits, and another
        // port is tried.
        let mut attempts = 0;
        let (child, webdriver) = loop {
            let port = free_port();
            let mut child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver");
            let webdriver = format!("http://127.0.0.1:{port}");
            attempts += 1;
            match wait_for_status(&webdriver, &mut child).await {
                Ok(()) => break (child, webdriver),
                Err(exit) if attempts < 3 => {
                    eprintln!("chromedriver on port {port} exited ({exit}); trying another port");
                }
                Err(exit) => panic!("chromedriver exited three times, last {exit}"),
            }
        };
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={},{}", WIDE.0, WIDE.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium.display().to_string(), "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .expect("open a Chromium session");
        let mut browser = Browser {
            client,
            driver: child,
            _profile: profile,
            _turn: turn,
            started_in: Duration::ZERO,
        };
        browser.viewport(WIDE).await;
        browser.started_in = started.elapsed();
        Some(browser)
    }

    /// Resizes the window so that the page's viewport is `width`×`height`.
    pub async fn viewport(&mut self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize");
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .expect("viewport size");
        let (w, h) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if (w, h) != (width, height) {
            self.client
                .set_window_size(
                    width + (width - w.min(width)),
                    height + (height - h.min(height)),
                )
                .await
                .expect("resize");
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
        self.reload_if_stalled().await;
    }

    /// Reloads the page, as the browser's reload button does.
    pub async fn reload(&self) {
        self.client.refresh().await.expect("reload");
        self.reload_if_stalled().await;
    }

    /// Chromium on two loaded cores sometimes never requests some of the
    /// page's module imports: its network log (`--log-net-log`) has no
    /// request for them, the server has none either, and no script of the
    /// GUI runs. Seen in about one run in three with 128 test threads, and
    /// once in twenty-odd CI runs with two. When `app.js` has not run within
    /// [`SCRIPTS_WITHIN`], this says so and reloads once; a page that stalls
    /// again fails its test as before.
    async fn reload_if_stalled(&self) {
        let deadline = Instant::now() + SCRIPTS_WITHIN;
        loop {
            let started = self
                .client
                .execute("return typeof window.__guiErrors !== 'undefined'", vec![])
                .await;
            if matches!(started, Ok(Value::Bool(true))) {
                return;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page = self.describe().await;
        eprintln!(
            "the page's scripts did not run within {SCRIPTS_WITHIN:?}; reloading it once\n{page}"
        );
        self.client.refresh().await.expect("reload");
    }

    /// Goes to a route of the GUI (the page's hash) without a reload, and
    /// waits until its view has loaded its data.
    pub async fn route(&self, hash: &str) {
        self.client
            .execute("location.hash = arguments[0]", vec![json!(hash)])
            .await
            .expect("set the route");
        self.wait_until(
            &format!("the view of {hash}"),
            "(document.querySelector('main .view[data-ready]') || {dataset: {}}).dataset.route \
             === location.hash",
        )
        .await;
    }

    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => {
                let page = self.describe().await;
                panic!("{css} did not appear within {WAIT:?}: {e}\n{page}")
            }
        }
    }

    /// What the page shows, for a failure message; also saves a screenshot.
    pub async fn describe(&self) -> String {
        let path = self.screenshot("FAILED").await;
        let state = self
            .client
            .execute(
                "return location.href + ' (' + document.readyState + ')\\n' \
                 + document.body.innerText.slice(0, 1500) + '\\nrequests done: ' \
                 + performance.getEntriesByType('resource').map(r => \
                     r.name.replace(location.origin, '') + ' ' + Math.round(r.startTime) + '+' \
                     + Math.round(r.duration) + 'ms').join(', ')",
                vec![],
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| format!("(cannot read the page: {e})"));
        let server = match self.client.current_url().await {
            Ok(url) => url.port().map(server_threads).unwrap_or_default(),
            Err(_) => String::new(),
        };
        format!(
            "screenshot {}; the page at {state}\n{server}",
            path.display()
        )
    }

    /// Waits until the element at `css` exists and its text contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = el.text().await
            {
                if t.contains(text) {
                    return el;
                }
                last = t;
            }
            if Instant::now() > deadline {
                let page = self.describe().await;
                panic!("{css} did not show {text:?} within {WAIT:?}; it showed {last:?}\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `script` (a JS expression) is truthy.
    pub async fn wait_until(&self, what: &str, script: &str) {
        self.wait_until_for(WAIT, what, script).await;
    }

    /// Waits up to `limit` until `script` (a JS expression) is truthy.
    pub async fn wait_until_for(&self, limit: Duration, what: &str, script: &str) {
        let deadline = Instant::now() + limit;
        loop {
            let value = self
                .client
                .execute(&format!("return Boolean({script})"), vec![])
                .await
                .expect("run script");
            if value == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let page = self.describe().await;
                panic!("{what}: not true within {limit:?}: {script}\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
    }

    /// Waits until the current view finished loading its data.
    pub async fn wait_ready(&self, view: &str) {
        self.wait_for(&format!("main .view[data-view=\"{view}\"][data-ready]"))
            .await;
    }

    /// Waits until the live event stream is connected.
    pub async fn wait_live(&self) {
        self.wait_for("#live[data-state=\"connected\"]").await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Replaces a text field's value at once and fires `input`, for long texts
    /// whose typing would only slow the test down.
    pub async fn set_value(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                 el.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css), json!(text)],
            )
            .await
            .expect("set value");
    }

    /// Types `keys` into whatever has the focus, as a keyboard would.
    pub async fn press(&self, keys: &str) {
        let active = self.client.active_element().await.expect("focused element");
        active.send_keys(keys).await.expect("keys");
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Fails if the page is wider than the window (content that overflows or
    /// overlaps sideways instead of wrapping).
    pub async fn assert_no_horizontal_overflow(&self, page: &str) {
        let widths = self
            .eval("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "{page}: the page is {scroll} px wide in a {inner} px window"
        );
    }

    /// Saves a PNG of the viewport as `<name>.png` in `$GUI_SCREENSHOTS_DIR`
    /// (e.g. docs/screenshots, to refresh the README's pictures) or else in
    /// the target directory, and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Fails on script errors, unhandled rejections and CSP refusals the page
    /// recorded (`window.__guiErrors`, kept by web/app.js).
    pub async fn assert_no_page_errors(&self) {
        let errors = self
            .eval("return window.__guiErrors || ['app.js did not run']")
            .await;
        assert_eq!(errors, json!([]), "the page recorded errors");
    }

    /// Checks the page recorded no errors, then ends the session.
    pub async fn close(self) {
        self.assert_no_page_errors().await;
        // Dropping ends chromedriver and Chromium; a polite close first.
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
    }
}

/// The threads of the process listening on `port` here, and where each
/// waits in the kernel (`wchan`, and the stack of those in D state): tells a
/// server stuck in IO from one that never got the page's requests.
fn server_threads(port: u16) -> String {
    let listening = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit(':').next()?;
            (u16::from_str_radix(local_port, 16).ok()? == port && cols.get(3)? == &"0A")
                .then(|| cols.get(9).map(|i| format!("socket:[{i}]")))?
        });
    let Some(socket) = listening else {
        return format!("no process listens on port {port}");
    };
    let pid = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .find(|e| {
            std::fs::read_dir(e.path().join("fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == socket)
                })
        })
        .map(|e| e.path());
    let Some(pid) = pid else {
        return format!("the process listening on port {port} was not found");
    };
    let mut out = format!("threads of {} (port {port}):", pid.display());
    for task in std::fs::read_dir(pid.join("task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let read = |f: &str| std::fs::read_to_string(task.path().join(f)).unwrap_or_default();
        let stat = read("stat");
        let state = stat
            .rsplit(") ")
            .next()
            .and_then(|r| r.split(' ').next())
            .unwrap_or("?");
        out += &format!("\n  {} {state} {}", read("comm").trim(), read("wchan"));
        if state == "D" {
            for frame in read("stack").lines().take(6) {
                out += &format!("\n      {frame}");
            }
        }
    }
    out
}

pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("GUI_SCREENSHOTS_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
            }
        }
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until chromedriver answers, or returns how it exited.
async fn wait_for_status(
    webdriver: &str,
    child: &mut Child,
) -> Result<(), std::process::ExitStatus> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{webdriver}/status")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Ok(Some(exit)) = child.try_wait() {
            return Err(exit);
        }
        if Instant::now() > deadline {
            panic!("chromedriver did not answer /status at {webdriver} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
