//! The self-service activation page in a real browser: Debian's headless Chromium driven by
//! chromedriver (W3C WebDriver over HTTP). A customer pastes a request, gets the license, and
//! downloads the file; another uploads a request file. Screenshots land in
//! `target/screenshots/` for review.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium chromium-driver`); `.ci/run` installs
//! them and runs this with `--include-ignored`. Without them the test is listed as ignored, and
//! run anyway it fails, saying what is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use client_verifier::offline::state::OfflineState;
use client_verifier::{Fingerprint, Timestamp};
use serde_json::{Value, json};

const A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(program: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, url }
    }
}

/// One browser session.
struct Browser {
    c: reqwest::Client,
    base: String,
}

impl Browser {
    async fn open(driver: &Driver, chromium: &Path, downloads: &Path, profile: &Path) -> Browser {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let v: Value = c
            .post(format!("{}/session", driver.url))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {v}"))
            .to_string();
        let b = Browser {
            c,
            base: format!("{}/session/{id}", driver.url),
        };
        // Headless Chromium saves downloads only when told where.
        b.call(
            "POST",
            "/chromium/send_command",
            json!({ "cmd": "Page.setDownloadBehavior",
                    "params": { "behavior": "allow", "downloadPath": downloads } }),
        )
        .await;
        b
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.c.get(url),
            "DELETE" => self.c.delete(url),
            _ => self.c.post(url).json(&body),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(
            v["value"]["error"].is_null(),
            "webdriver {method} {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.call("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    async fn source(&self) -> String {
        self.call("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The page source once it contains `needle`.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let html = self.source().await;
            if html.contains(needle) {
                return html;
            }
            assert!(
                Instant::now() < deadline,
                "the page never said {needle:?}:\n{html}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    async fn close(self) {
        let _ = self.c.delete(&self.base).send().await;
    }
}

/// The one file that appears in `dir`, once its download is complete.
fn wait_for_download(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().ends_with(".crdownload"))
            .collect();
        if let [one] = done.as_slice() {
            return one.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no download in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; CI runs it with --include-ignored"]
async fn a_customer_pastes_a_request_downloads_the_license_and_another_uploads_one() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
        find_program(&["chromedriver"]),
    ) else {
        panic!(
            "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let d = common::Daemon::start(dir.path(), &[]);
    let c = common::client();
    let bought = common::v1(&c, &d, &common::get_license("WEB-1", "biz-web-1")).await;
    let license = bought.json["license"].as_str().unwrap().to_string();
    let request = OfflineState::open(dir.path().join("a"))
        .unwrap()
        .request(&license, &Fingerprint::parse(A).unwrap())
        .unwrap();

    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = Driver::start(&chromedriver);
    let browser = Browser::open(&driver, &chromium, &downloads, &dir.path().join("profile")).await;

    // Paste and get the license.
    browser.go(&d.url("/activate")).await;
    browser.wait_for("Activation request").await;
    browser.screenshot("activate-page").await;
    browser.type_into("#request", &request).await;
    browser.click("#activate").await;
    let html = browser.wait_for("now holds seat 0").await;
    assert!(html.contains("v4.public."), "the license is shown to copy");
    browser.screenshot("activate-done").await;

    // Download the license file and install it: the verifier accepts it on this machine.
    browser.click("#download").await;
    let file = wait_for_download(&downloads);
    assert_eq!(file.file_name().unwrap(), "license-biz-web-1.lic");
    let token = std::fs::read_to_string(&file).unwrap();
    let now = Timestamp::now();
    let verifier = d.verifier();
    verifier
        .verify(token.trim(), Some(&Fingerprint::parse(A).unwrap()), now)
        .unwrap();

    // Another machine's request as a file, uploaded: the only seat is taken, and the page
    // says so in words the customer can act on.
    let request_b = OfflineState::open(dir.path().join("b"))
        .unwrap()
        .request(&license, &Fingerprint::parse(B).unwrap())
        .unwrap();
    let upload = dir.path().join("request-b.txt");
    std::fs::write(&upload, format!("{request_b}\n")).unwrap();
    browser.go(&d.url("/activate")).await;
    browser
        .type_into("#request_file", upload.to_str().unwrap())
        .await;
    browser.click("#activate").await;
    let html = browser.wait_for("That did not work").await;
    assert!(html.contains("activation(s) are in use"), "{html}");
    browser.screenshot("activate-refused").await;
    browser.close().await;
}
