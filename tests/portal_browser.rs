//! The customer portal in a real browser (Debian's headless Chromium through chromedriver): a
//! customer signs in with the license file, frees a seat and sees the transfer counted, switches
//! to 简体中文 and back, signs out, and another signs in with a License 2.0 code. Every portal
//! page is captured in both languages at desktop and phone widths in
//! `target/screenshots/portal-*.png` (the README shows them, copied to `docs/portal/`).
//!
//! Needs `chromium`, `chromedriver` and a CJK font (Debian: `chromium chromium-driver
//! fonts-wqy-microhei`); `.ci/run` installs them and runs this with `--include-ignored`.
//! Without them the test is listed as ignored, and run anyway it fails, saying what is missing.

mod common;

use common::browser::{Browser, Driver, chromium_and_driver};
use common::fake_market::{FakeCode, FakeMarket};
use common::{client, get_license, v1};

const MACHINE_A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const MACHINE_B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";
const CODE: &str = "LC7Q-9XKD-2M4P-TT8W";

/// The page at desktop width, then at a phone's (390 × 844), as `portal-<name>-<lang>-…`.
async fn shots(b: &Browser, name: &str, lang: &str) {
    b.screenshot(&format!("portal-{name}-{lang}-desktop")).await;
    b.resize(390, 844).await;
    b.screenshot(&format!("portal-{name}-{lang}-phone")).await;
    b.resize(1280, 900).await;
}

fn a_cjk_font_is_installed() {
    let out = std::process::Command::new("fc-list")
        .arg(":lang=zh")
        .output()
        .expect("fc-list (fontconfig) is needed to check for a CJK font");
    assert!(
        !out.stdout.is_empty(),
        "no CJK font: the 简体中文 screenshots would show boxes; install fonts-wqy-microhei"
    );
}

#[tokio::test]
#[ignore = "needs chromium, chromedriver and a CJK font; CI runs it with --include-ignored"]
async fn a_customer_frees_a_seat_in_both_languages_and_another_signs_in_with_a_code() {
    let (chromium, chromedriver) = chromium_and_driver();
    a_cjk_font_is_installed();
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("products.toml");
    std::fs::write(
        &catalog,
        "[default]\nname = \"Professional\"\ntransfers_per_year = 3\n",
    )
    .unwrap();
    let d = common::start_with_market(
        dir.path(),
        &market,
        &["--products", catalog.to_str().unwrap()],
    );
    let c = client();
    let mut buy = get_license("WEB-P", "biz-web-p");
    buy.push(("amount", "2"));
    let bought = v1(&c, &d, &buy).await;
    let license = bought.json["license"].as_str().unwrap().to_string();
    for machine in [MACHINE_A, MACHINE_B] {
        let r = c
            .post(d.url("/v1/activate"))
            .json(&serde_json::json!({"license": license, "fingerprint": machine}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (status, _, body) = common::activate_code(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(status, 200, "{body}");

    let driver = Driver::start(&chromedriver);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let b = Browser::open(&driver, &chromium, &downloads, &dir.path().join("profile")).await;

    // Sign in with the license file's text.
    b.go(&d.url("/portal/")).await;
    b.wait_for("Sign in to your license").await;
    shots(&b, "login", "en").await;
    b.type_into("#license", &license).await;
    b.click("#sign-in").await;
    let html = b.wait_for("2 of 2 seats in use").await;
    assert!(
        html.contains("Professional") && html.contains(" UTC"),
        "{html}"
    );
    shots(&b, "license", "en").await;

    // Free seat 0 through its confirmation; the transfer is counted.
    b.click("#free-0").await;
    b.wait_for("Free seat 0?").await;
    shots(&b, "free-seat", "en").await;
    b.click("#confirm").await;
    let html = b.wait_for("Seat 0 is free").await;
    assert!(html.contains("1 of 2 seats in use"), "{html}");
    assert!(html.contains("0 of 3 used, 2 left"), "{html}");

    b.go(&d.url("/portal/license")).await;
    b.wait_for("Download your license file").await;
    shots(&b, "download", "en").await;
    b.go(&d.url("/portal/exchange")).await;
    b.wait_for("Machines without internet access").await;
    shots(&b, "exchange", "en").await;
    b.go(&d.url("/portal/seats/7/free")).await;
    b.wait_for("does not open that seat").await;
    shots(&b, "refused", "en").await;

    // The switch: 简体中文, remembered across pages, times in Beijing time.
    b.go(&d.url("/portal/")).await;
    b.click("#lang-switch").await;
    let html = b.wait_for("已使用 1 个席位").await;
    assert!(
        html.contains("北京时间") && html.contains("已使用 1 个席位，共 2 个"),
        "{html}"
    );
    assert!(html.contains("已用 0 次，共 3 次，剩余 2 次"), "{html}");
    shots(&b, "license", "zh").await;
    b.go(&d.url("/portal/seats/1/free")).await;
    b.wait_for("确认解绑席位 1").await;
    shots(&b, "free-seat", "zh").await;
    b.go(&d.url("/portal/license")).await;
    b.wait_for("下载许可证文件").await;
    shots(&b, "download", "zh").await;
    b.go(&d.url("/portal/exchange")).await;
    b.wait_for("无法联网的设备").await;
    shots(&b, "exchange", "zh").await;
    b.go(&d.url("/portal/seats/7/free")).await;
    b.wait_for("当前登录无权管理该席位").await;
    shots(&b, "refused", "zh").await;

    // Sign out; a wrong code is refused in Chinese; the activation code signs in.
    b.go(&d.url("/portal/")).await;
    b.wait_for("退出登录").await;
    b.click("#sign-out").await;
    b.wait_for("您已退出登录").await;
    shots(&b, "login", "zh").await;
    b.type_into("#license", "WRONG-CODE-0000").await;
    b.click("#sign-in").await;
    b.wait_for("不是本服务器签发的许可证或授权码").await;
    b.type_into("#license", CODE).await;
    b.click("#sign-in").await;
    // (The sign-in page's title, 登录我的许可证, holds the license page's: wait for its content.)
    let html = b.wait_for("已使用 1 个席位，共 1 个").await;
    assert!(!html.contains(CODE), "the code is a secret: not shown back");
    shots(&b, "code", "zh").await;
    b.click("#lang-switch").await;
    b.wait_for("1 of 1 seats in use").await;
    shots(&b, "code", "en").await;
    b.close().await;
}
