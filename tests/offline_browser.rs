//! The self-service activation page in a real browser: Debian's headless Chromium driven by
//! chromedriver (W3C WebDriver over HTTP). A customer pastes a request, gets the license, and
//! downloads the file; another uploads a request file. Screenshots land in
//! `target/screenshots/` for review.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium chromium-driver`); `.ci/run` installs
//! them and runs this with `--include-ignored`. Without them the test is listed as ignored, and
//! run anyway it fails, saying what is missing.

mod common;

use client_verifier::offline::state::OfflineState;
use client_verifier::{Fingerprint, Timestamp};
use common::browser::{Browser, Driver, chromium_and_driver, wait_for_download};

const A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";

#[tokio::test]
#[ignore = "needs chromium and chromedriver; CI runs it with --include-ignored"]
async fn a_customer_pastes_a_request_downloads_the_license_and_another_uploads_one() {
    let (chromium, chromedriver) = chromium_and_driver();
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

#[tokio::test]
#[ignore = "needs chromium and chromedriver; CI runs it with --include-ignored"]
async fn a_site_request_gets_its_allotment_and_the_site_receipt_gives_it_back() {
    let (chromium, chromedriver) = chromium_and_driver();
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("products.toml");
    std::fs::write(
        &catalog,
        "[[product]]\nid = \"OFFI454488918838374\"\nname = \"CAD Floating\"\nmodel = \"floating\"\n",
    )
    .unwrap();
    let d = common::Daemon::start(dir.path(), &["--products", catalog.to_str().unwrap()]);
    let c = common::client();
    let mut buy = common::get_license("WEB-S", "biz-web-s");
    buy.push(("amount", "4"));
    let bought = common::v1(&c, &d, &buy).await;
    let license = bought.json["license"]
        .as_str()
        .expect("a license")
        .to_string();
    let site = OfflineState::open(dir.path().join("site")).unwrap();
    let request = site
        .site_request(&license, &Fingerprint::parse(B).unwrap(), 3)
        .unwrap();

    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = Driver::start(&chromedriver);
    let browser = Browser::open(&driver, &chromium, &downloads, &dir.path().join("profile")).await;
    browser.go(&d.url("/activate")).await;
    browser.wait_for("A site license server").await;
    browser.type_into("#request", &request).await;
    browser.click("#activate").await;
    let html = browser.wait_for("Site allotment").await;
    assert!(html.contains("may lease 3 seats"), "{html}");
    browser.screenshot("site-allotted").await;
    browser.click("#download").await;
    let file = wait_for_download(&downloads);
    assert_eq!(file.file_name().unwrap(), "allotment-biz-web-s.txt");
    let allotment = std::fs::read_to_string(&file).unwrap();
    let a = d
        .verifier()
        .verify_allotment(allotment.trim(), Timestamp::now())
        .unwrap();
    assert_eq!(a.seats, 3);

    // The site gives its seats back through the same page.
    let receipt = site.site_receipt(&a.jti, Timestamp::now()).unwrap();
    browser.go(&d.url("/activate")).await;
    browser.type_into("#receipt", &receipt).await;
    browser.click("#deactivate").await;
    let html = browser.wait_for("Site seats given back").await;
    assert!(
        html.contains("3 seats of license biz-web-s are free"),
        "{html}"
    );
    browser.screenshot("site-returned").await;
    browser.close().await;
}
