//! The pages in a real browser: headless Chromium driven through chromedriver (WebDriver).
//! Signs in, opens a job, expands an email, filters by category, and saves screenshots under
//! `target/browser-screenshots/` for a person to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver`, so outside CI it is `#[ignore]`d and
//! `cargo test` lists it as ignored; under CI (`CI=true`, as `.ci/run` sets after installing
//! them) it runs, and fails if they are missing. `--include-ignored` runs it anywhere.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    STAFF_PASSWORD, STAFF_USER, TestGateway, event, post_job_story, provider_sources, staff_users,
    status_changed,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver"];

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// chromedriver on a free loopback port, killed when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start(binary: &Path) -> Chromedriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Chromedriver { child, url }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_browser(driver: &Chromedriver, chromium: &Path, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            // Root in a container needs --no-sandbox; this machine has no network, and
            // Chromium waits on refused connections unless its background traffic is off.
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1800", "--force-device-scale-factor=1",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn save_screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

const EMBED_SECRET: &str = "an-embed-secret-for-the-browser-test-0123";

/// The business app's page that frames a timeline: one iframe, served from an origin of its
/// own (a port on 127.0.0.1).
struct FramingPage {
    origin: String,
    html: std::sync::Arc<std::sync::Mutex<String>>,
}

impl FramingPage {
    fn start() -> FramingPage {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let html = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let serving = html.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let body = serving.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FramingPage { origin, html }
    }

    fn frame(&self, src: &str) {
        *self.html.lock().unwrap() = format!(
            "<!DOCTYPE html><title>Job 1042 · Shop</title><h2>The business app</h2>\
             <iframe src=\"{src}\" width=\"1000\" height=\"700\"></iframe>"
        );
    }
}

/// Waits until the live pill offers `text` ("2 new entries").
async fn wait_for_pill(browser: &Client, text: &str) {
    let script = format!("return document.querySelector('.new-pill').textContent === '{text}';");
    wait_for_script(browser, &script).await;
}

async fn click(browser: &Client, css: &str) {
    let element = browser.find(Locator::Css(css)).await.expect(css);
    element.click().await.expect("click");
}

/// Waits (up to 15 s) until `script` returns true in the page.
async fn wait_for_script(browser: &Client, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let done = browser.execute(script, vec![]).await.expect("script");
        if done == serde_json::json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out: {script}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `username` and the test password into the login form on screen, and submits it.
async fn sign_in_on_the_form(browser: &Client, username: &str) {
    for (field, text) in [("username", username), ("password", STAFF_PASSWORD)] {
        browser
            .find(Locator::Id(field))
            .await
            .expect(field)
            .send_keys(text)
            .await
            .expect("type");
    }
    click(browser, "form.stacked button[type=submit]").await;
}

/// The browser's tools when both are installed; the tests fail, saying what to install, when
/// they are not.
fn chromium_and_driver() -> (PathBuf, PathBuf) {
    match (first_existing(CHROMIUM), first_existing(CHROMEDRIVER)) {
        (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
        _ => panic!(
            "the browser tests need Debian's chromium and chromedriver at {CHROMIUM:?} and \
             {CHROMEDRIVER:?}: apt-get install -y chromium chromium-driver"
        ),
    }
}

async fn current_path(browser: &Client) -> String {
    let url = browser.current_url().await.expect("url");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(hooktrail_ci),
    ignore = "needs chromium and chromium-driver; runs under CI=true or with --include-ignored"
)]
async fn staff_sign_in_open_a_job_expand_an_email_and_filter() {
    let (chromium, chromedriver) = chromium_and_driver();

    // Live timelines idle out after 3 s here, so the browser reconnects during the test. The
    // business app's page that frames a timeline is served from one origin that may, and
    // another that may not.
    let (allowed, refused) = (FramingPage::start(), FramingPage::start());
    let extra = format!(
        "{}{}\n[display]\ntimezone = \"America/Chicago\"\n[live]\nidle_timeout_secs = 3\n\
         [embed]\nsecret = \"{EMBED_SECRET}\"\nallowed_origins = [\"{}\"]\n",
        staff_users(),
        provider_sources(),
        allowed.origin
    );
    let mut gateway = TestGateway::start_with(&extra, None).await;
    post_job_story(&gateway.client, "1042").await;
    // Hostile content: if any of it ran, it would change the title or set a global.
    let hostile = event(
        "email.sent",
        "2026-03-04T20:00:00Z",
        json!({"subject": {"kind": "job", "id": "1042"},
               "message": {"subject": "<script>document.title='pwned'</script>",
                           "to": ["<img src=x onerror=\"window.pwned=1\">"],
                           "html": "<img src=x onerror=\"window.pwned=2\"><a href=\"javascript:window.pwned=3\">x</a><script>window.pwned=4</script>"}}),
    );
    assert_eq!(gateway.client.post_signed(&hostile).await.status(), 200);

    let driver = Chromedriver::start(&chromedriver);
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let base = gateway.client.base.clone();

    // Not signed in: the job sends us to the login, remembering where we were going.
    browser
        .goto(&format!("{base}/jobs/1042"))
        .await
        .expect("goto");
    assert_eq!(current_path(&browser).await, "/login?next=%2Fjobs%2F1042");
    save_screenshot(&browser, "01-login.png").await;
    sign_in_on_the_form(&browser, STAFF_USER).await;
    browser
        .wait()
        .for_element(Locator::Css(".timeline"))
        .await
        .expect("the timeline");
    assert_eq!(current_path(&browser).await, "/jobs/1042");
    let heading = browser.find(Locator::Css("h1")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "Job #1042");

    // The page script ran (CSP allows our own file) and added its button.
    browser
        .wait()
        .for_element(Locator::Css(".timeline-tools button"))
        .await
        .expect("the expand-all button from hooktrail.js");
    save_screenshot(&browser, "02-timeline.png").await;

    // Expand the email: its sanitized content and recipients show.
    let email = browser
        .find(Locator::XPath(
            "//li[@data-kind='email.sent'][contains(., 'Your proof is ready')]//summary",
        ))
        .await
        .expect("the proof email");
    email.click().await.expect("expand");
    let body = browser
        .find(Locator::Css("details[open] .email-body"))
        .await
        .expect("the email body");
    assert!(body.is_displayed().await.unwrap());
    assert!(body.text().await.unwrap().contains("Review your proof"));
    save_screenshot(&browser, "03-email-expanded.png").await;

    // Nothing hostile ran.
    let pwned = browser
        .execute(
            "return [document.title, window.pwned === undefined];",
            vec![],
        )
        .await
        .expect("script");
    assert!(!pwned[0].as_str().unwrap_or("").contains("pwned"));
    assert_eq!(pwned[1], json!(true), "an injected handler ran");

    // Filter by category: only communication entries remain, and the chip says so.
    browser
        .find(Locator::Css(".filters .chip-communication"))
        .await
        .expect("the Communication chip")
        .click()
        .await
        .expect("click");
    browser
        .wait()
        .for_element(Locator::Css(".chip-communication[aria-current='page']"))
        .await
        .expect("the active chip");
    assert_eq!(
        current_path(&browser).await,
        "/jobs/1042?category=communication"
    );
    let categories = browser
        .execute(
            "return Array.from(document.querySelectorAll('li.entry')).map(e => e.dataset.category);",
            vec![],
        )
        .await
        .expect("script");
    let categories = categories.as_array().expect("a list");
    assert_eq!(categories.len(), 2);
    assert!(categories.iter().all(|c| c == "communication"));
    save_screenshot(&browser, "04-filtered.png").await;

    // Live: with the page open, a late event (it happened mid-story) and, after the stream
    // idled out and the browser reconnected, another one: a pill offers both, and they land
    // in time order.
    browser
        .goto(&format!("{base}/jobs/1042"))
        .await
        .expect("goto");
    browser
        .wait()
        .for_element(Locator::Css(".new-pill"))
        .await
        .expect("the live pill, hidden until something arrives");
    let counts_before = chip_counts(&browser).await;
    let late = status_changed("1042", "On hold", "2026-03-03T14:30:00Z");
    assert_eq!(gateway.client.post_signed(&late).await.status(), 200);
    wait_for_pill(&browser, "1 new entry").await;
    save_screenshot(&browser, "05-live-pill.png").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let newest = status_changed("1042", "Shipped", "2026-03-05T09:00:00Z");
    assert_eq!(gateway.client.post_signed(&newest).await.status(), 200);
    wait_for_pill(&browser, "2 new entries").await;
    click(&browser, ".new-pill").await;
    wait_for_script(
        &browser,
        "return document.querySelectorAll('li.entry-new').length === 2;",
    )
    .await;
    let order = browser
        .execute(
            "return Array.from(document.querySelectorAll('li.entry')).map(e => e.dataset.at);",
            vec![],
        )
        .await
        .expect("script");
    let order: Vec<&str> = order
        .as_array()
        .expect("a list")
        .iter()
        .map(|at| at.as_str().unwrap_or(""))
        .collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "{order:?}");
    assert!(order.contains(&"2026-03-03T14:30:00Z") && order[0] == "2026-03-05T09:00:00Z");
    save_screenshot(&browser, "06-live-inserted.png").await;
    // The chips counted the two new lines, in All and in their category.
    let counts_after = chip_counts(&browser).await;
    assert_eq!(counts_after["all"], counts_before["all"] + 2);
    assert_eq!(counts_after["workflow"], counts_before["workflow"] + 2);
    assert_eq!(
        counts_after["communication"],
        counts_before["communication"]
    );

    // SendGrid reports the proof email bounced: its line changes in place, no pill needed.
    let bounce = json!([{"email": "maria@acme.example", "timestamp": chrono::Utc::now().timestamp(),
        "event": "bounce", "type": "bounce", "reason": "550 5.2.2 mailbox full",
        "sg_event_id": "sg-bounce-1042", "sg_message_id": "sg-1042.filter0001.1.0"}]);
    let answer = gateway
        .client
        .send("sendgrid", &serde_json::to_vec(&bounce).unwrap())
        .await;
    assert_eq!(answer.status(), 200);
    wait_for_script(
        &browser,
        "var li = Array.from(document.querySelectorAll(\"li[data-kind='email.sent']\")) \
           .find(l => l.textContent.includes('Your proof is ready')); \
         var mark = li && li.querySelector('summary .mark-bad'); \
         return !!mark && mark.textContent.includes('Bounced') && \
           document.querySelector('.new-pill').hidden;",
    )
    .await;
    save_screenshot(&browser, "06b-live-bounce.png").await;
    // A changed line is no new line.
    assert_eq!(chip_counts(&browser).await, counts_after);

    // The home page follows everything: a new event anywhere waits behind its pill.
    browser.goto(&format!("{base}/")).await.expect("goto");
    browser
        .wait()
        .for_element(Locator::Css(".activity .new-pill"))
        .await
        .expect("the home page's live pill");
    let elsewhere = status_changed("2077", "Printing", "2026-03-05T10:00:00Z");
    assert_eq!(gateway.client.post_signed(&elsewhere).await.status(), 200);
    wait_for_pill(&browser, "1 new entry").await;
    click(&browser, ".new-pill").await;
    wait_for_script(
        &browser,
        "return !!document.querySelector(\"li.entry-new a.subject-link[href='/jobs/2077']\");",
    )
    .await;
    save_screenshot(&browser, "06c-home-live.png").await;
    browser
        .goto(&format!("{base}/jobs/1042"))
        .await
        .expect("goto");

    // A deep link opens its entry and marks it.
    let target = browser
        .execute(
            "return document.querySelector(\"li[data-kind='proof.rejected']\").id;",
            vec![],
        )
        .await
        .expect("script");
    let target = target.as_str().expect("an id").to_owned();
    browser
        .goto(&format!("{base}/jobs/1042#{target}"))
        .await
        .expect("goto");
    wait_for_script(
        &browser,
        &format!(
            "var li = document.getElementById('{target}'); \
             return li.classList.contains('entry-target') && li.querySelector('details').open;"
        ),
    )
    .await;
    save_screenshot(&browser, "07-deep-link.png").await;

    // Phone width: the same page still reads.
    browser.set_window_size(390, 1000).await.expect("resize");
    browser
        .goto(&format!("{base}/jobs/1042"))
        .await
        .expect("goto");
    save_screenshot(&browser, "07b-phone.png").await;

    // Inside the business app: a frame on an allowed origin shows the timeline, live; one
    // on another origin is refused by the browser.
    browser.set_window_size(1280, 1000).await.expect("resize");
    let exp = chrono::Utc::now().timestamp() + 600;
    let secret = hooktrail::crypto::Secret::new(EMBED_SECRET.as_bytes().to_vec()).unwrap();
    let link = format!(
        "{base}{}",
        hooktrail::http::embed::link(&secret, &"job:1042".parse().unwrap(), exp, "dana")
    );
    for page in [&allowed, &refused] {
        page.frame(&link);
    }
    browser.goto(&allowed.origin).await.expect("goto");
    browser.enter_frame(0).await.expect("into the frame");
    let heading = browser
        .wait()
        .for_element(Locator::Css("h1"))
        .await
        .expect("the framed timeline");
    assert_eq!(heading.text().await.unwrap(), "Job #1042");
    wait_for_script(&browser, "return !!document.querySelector('.new-pill');").await;
    let framed = status_changed("1042", "Delivered", "2026-03-06T09:00:00Z");
    assert_eq!(gateway.client.post_signed(&framed).await.status(), 200);
    wait_for_pill(&browser, "1 new entry").await;
    browser
        .enter_parent_frame()
        .await
        .expect("out of the frame");
    save_screenshot(&browser, "08-embedded.png").await;
    browser.goto(&refused.origin).await.expect("goto");
    browser.enter_frame(0).await.expect("into the frame");
    // Not merely "not loaded yet": the browser ended the frame on its error page, having
    // been refused by frame-ancestors.
    wait_for_script(&browser, "return location.protocol === 'chrome-error:';").await;
    let shown = browser
        .execute(
            "return [document.querySelectorAll('.activity, .entry').length, document.body.innerText];",
            vec![],
        )
        .await
        .expect("script");
    browser
        .enter_parent_frame()
        .await
        .expect("out of the frame");
    save_screenshot(&browser, "09-embed-refused.png").await;
    assert_eq!(
        shown[0],
        json!(0),
        "a frame on another origin showed the timeline: {shown}"
    );

    browser.close().await.expect("close the browser");
    drop(driver);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(hooktrail_ci),
    ignore = "needs chromium and chromium-driver; runs under CI=true or with --include-ignored"
)]
async fn an_operator_finds_a_flagged_delivery_from_the_sources_page() {
    let (chromium, chromedriver) = chromium_and_driver();
    let extra = format!(
        "{}\n[display]\ntimezone = \"America/Chicago\"\n",
        common::staff_and_operator()
    );
    let mut gateway = TestGateway::start_with(&extra, None).await;
    post_job_story(&gateway.client, "1042").await;
    // Signed, unreadable and hostile: if any of it ran, it would set a global.
    let hostile = b"<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";
    assert_eq!(gateway.client.send("hoops", hostile).await.status(), 200);
    // A refusal, for the sources page to explain.
    let body = status_changed("1042", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(gateway.client.post("hoops", &body, &[]).await.status(), 401);

    let driver = Chromedriver::start(&chromedriver);
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let base = gateway.client.base.clone();
    browser
        .goto(&format!("{base}/admin/sources"))
        .await
        .expect("goto");
    sign_in_on_the_form(&browser, common::OPERATOR_USER).await;
    browser
        .wait()
        .for_element(Locator::Css(".source-counts"))
        .await
        .expect("the sources page");
    let refused = browser
        .find(Locator::Css(".admin-card .refusal-check"))
        .await
        .expect("a refusal")
        .text()
        .await
        .expect("text");
    assert_eq!(refused, "the webhook-id header is missing");
    save_screenshot(&browser, "21-admin-sources.png").await;

    click(
        &browser,
        ".admin-card .source-last a[href*='outcome=flagged']",
    )
    .await;
    browser
        .wait()
        .for_element(Locator::Css("table.deliveries"))
        .await
        .expect("the flagged deliveries");
    let rows = browser
        .find_all(Locator::Css("table.deliveries tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "only the unreadable delivery is flagged");
    save_screenshot(&browser, "22-admin-deliveries.png").await;

    click(&browser, "table.deliveries tbody tr a").await;
    browser
        .wait()
        .for_element(Locator::Css("pre.raw-body"))
        .await
        .expect("the delivery's page");
    let shown = browser
        .find(Locator::Css("pre.raw-body"))
        .await
        .expect("the body")
        .text()
        .await
        .expect("text");
    assert!(shown.contains("<script>window.pwned=1</script>"), "{shown}");
    let pwned = browser
        .execute("return window.pwned === undefined;", vec![])
        .await
        .expect("script");
    assert_eq!(pwned, json!(true), "the hostile body stayed text");
    save_screenshot(&browser, "23-admin-delivery.png").await;
    browser
        .set_window_size(390, 900)
        .await
        .expect("phone width");
    save_screenshot(&browser, "24-admin-delivery-phone.png").await;
    browser.back().await.expect("back");
    browser
        .wait()
        .for_element(Locator::Css("table.deliveries"))
        .await
        .expect("the list again");
    save_screenshot(&browser, "25-admin-deliveries-phone.png").await;

    browser.close().await.expect("close");
    gateway.stop().await;
}

/// What each category chip counts (`all`, `workflow`…), as the page shows it now.
async fn chip_counts(browser: &Client) -> std::collections::BTreeMap<String, u64> {
    let counts = browser
        .execute(
            "var counts = {}; \
             document.querySelectorAll('.filters .chip').forEach(function (chip) { \
               var key = Array.from(chip.classList).find(c => c.startsWith('chip-') && c !== 'chip-empty'); \
               counts[key.slice(5)] = parseInt(chip.querySelector('.chip-count').lastChild.textContent, 10); \
             }); \
             return counts;",
            vec![],
        )
        .await
        .expect("script");
    serde_json::from_value(counts).expect("counts by chip")
}
