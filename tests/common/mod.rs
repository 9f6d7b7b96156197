//! The real daemon in a temp directory, and a marketplace that signs its calls exactly as the
//! spec says (`licd::marketplace`'s signing side, cross-checked against an independent HMAC of
//! the response body in [`Answer::check_body_sign`]).
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod console;
pub mod fake_market;
pub mod forms;
pub mod pg;
pub mod receiver;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use client_verifier::{PublicKey, Timestamp, Verifier};
use hmac::{Hmac, Mac};
use licd::marketplace::{AccessKey, random_nonce, sign_v1_query, sign_v2_query};
use serde_json::Value;
use sha2::Sha256;

pub const ACCESS_KEY: &str = "ebf72724-bacc-414b-a86b-fda5bcc8153c";
pub const CALLBACK: &str = "/marketplace/callback";

/// A running `licd serve`.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    /// The admin API's address.
    pub admin_addr: SocketAddr,
    pub dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts licd on 127.0.0.1:0 with its data, keys and access key under `dir`.
    pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
        Self::start_via(dir, extra, &[])
    }

    /// [`Daemon::start`] through a launcher: `launcher` is a command line that ends by running
    /// the one appended to it (e.g. `prlimit --fsize=N --`).
    pub fn start_via(dir: &Path, extra: &[&str], launcher: &[String]) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let key_file = dir.join("access.key");
        write_secret(&key_file, ACCESS_KEY.as_bytes());
        let licd = env!("CARGO_BIN_EXE_licd");
        // The PostgreSQL run of a suite (LICD_TEST_BACKEND=postgres): a database per directory.
        let database: Vec<String> = match pg::database_for(dir) {
            Some(url) if !extra.contains(&"--database-url") => {
                vec!["--database-url".into(), url, "--database-migrate".into()]
            }
            _ => Vec::new(),
        };
        let mut cmd = match launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(licd);
                c
            }
            None => Command::new(licd),
        };
        let mut child = cmd
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--keys-dir")
            .arg(dir.join("keys"))
            .arg("--access-key-file")
            .arg(&key_file)
            // `acme-isv` unless the test names its own.
            .args(if extra.contains(&"--issuer") {
                &[][..]
            } else {
                &["--issuer", "acme-isv"][..]
            })
            .args(extra)
            .args(&database)
            .env("RUST_LOG", "info")
            .env_remove("LICD_ACCESS_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (log, rx) = read_log(child.stderr.take().unwrap(), "listening");
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("licd did not start:\n{}", log.lock().unwrap()));
        let (addr, admin_addr) = log_field(&line, "addr=")
            .zip(log_field(&line, "admin_addr="))
            .unwrap();
        Daemon {
            child,
            addr: addr.parse().unwrap(),
            admin_addr: admin_addr.parse().unwrap(),
            dir: dir.to_path_buf(),
            log,
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The admin API's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// The admin bearer token the daemon generated at first start.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("data/admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Waits (up to 20 s) until the log has a line containing `needle`: stderr is read by a
    /// thread, so a line can arrive a moment after the answer that caused it.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the daemon to exit on its own.
    pub fn wait_exit(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "licd did not stop within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "licd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `licctl ARGS` against this daemon's admin API, with its admin token.
    #[allow(dead_code)]
    pub fn licctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_licctl"))
            .args(["--admin-url", &self.admin_url(), "--admin-token-file"])
            .arg(self.dir.join("data/admin.token"))
            .args(args)
            .output()
            .unwrap()
    }

    /// The daemon's public keys, from `licd --json keys export`.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        let out = Command::new(env!("CARGO_BIN_EXE_licd"))
            .args(["--json", "keys", "export", "--keys-dir"])
            .arg(self.dir.join("keys"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| PublicKey::from_paserk(k["public"].as_str().unwrap()).unwrap())
            .collect()
    }

    /// A verifier trusting this daemon's keys, for issuer `acme-isv`.
    pub fn verifier(&self) -> Verifier {
        let mut b = Verifier::builder()
            .issuer("acme-isv")
            .binding(client_verifier::BindingRequirement::Optional);
        for k in self.public_keys() {
            b = b.trust(k);
        }
        b.build()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `licd serve` in `dir` as [`Daemon::start`] would (data, keys and access key under
/// `dir`, loopback port 0) and waits for it to exit: for a start that must be refused.
pub fn serve_refused(dir: &Path, extra: &[&str]) -> std::process::Output {
    std::fs::create_dir_all(dir).unwrap();
    let key_file = dir.join("access.key");
    write_secret(&key_file, ACCESS_KEY.as_bytes());
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--keys-dir")
        .arg(dir.join("keys"))
        .arg("--access-key-file")
        .arg(&key_file)
        .args(extra)
        .env_remove("LICD_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "licd started: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The getLicense parameters of a real (not dial-test) purchase of `order`, with `business`
/// as its businessId.
pub fn get_license<'a>(order: &'a str, business: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("activity", "getLicense"),
        ("customerId", "cust-68cbc86a"),
        ("customerName", "Acme Tooling"),
        ("businessId", business),
        ("orderId", order),
        ("productId", "OFFI454488918838374"),
        ("skuCode", "sku-pro"),
        ("expireTime", "20991231000000"),
        ("periodType", "year"),
    ]
}

/// Collects a child's stderr into a log a test can read, and sends each line that contains
/// `marker` (the "listening" line a server logs once it is ready).
pub fn read_log(
    stderr: std::process::ChildStderr,
    marker: &'static str,
) -> (Arc<Mutex<String>>, std::sync::mpsc::Receiver<String>) {
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(marker) {
                let _ = tx.send(line.clone());
            }
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    (log, rx)
}

/// The value of the field `name` (e.g. `addr=`) in a log line.
pub fn log_field(line: &str, name: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .map(str::to_string)
}

/// A floating license of `product` with `seats` seats for order `order` (also its business
/// id), valid until 2099: its token.
pub async fn buy_floating(
    c: &reqwest::Client,
    d: &Daemon,
    product: &str,
    order: &str,
    seats: &str,
) -> String {
    let r = v1(
        c,
        d,
        &[
            ("activity", "getLicense"),
            ("customerId", "cust-1"),
            ("businessId", order),
            ("orderId", order),
            ("productId", product),
            ("skuCode", "sku-float"),
            ("amount", seats),
            ("expireTime", "20991231000000"),
        ],
    )
    .await;
    assert_eq!(r.code(), "000000", "{:?}", r.json);
    r.json["license"].as_str().unwrap().to_string()
}

/// Writes a secret file owner-only (0600), as licd requires of the files it reads secrets from.
pub fn write_secret(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// One answered callback.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub body_sign: Option<String>,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["resultCode"].as_str().unwrap_or("")
    }

    pub fn msg(&self) -> &str {
        self.json["resultMsg"].as_str().unwrap_or("")
    }

    /// The `Body-Sign` header must be, byte for byte, the documented form over these exact body
    /// bytes: computed here with the hmac crate directly, not with licd's own code.
    pub fn check_body_sign(&self) {
        let mut mac = Hmac::<Sha256>::new_from_slice(ACCESS_KEY.as_bytes()).unwrap();
        mac.update(&self.body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let expected = format!("sign_type=\"HMAC-SHA256\", signature= \"{sig}\"");
        assert_eq!(
            self.body_sign.as_deref(),
            Some(expected.as_str()),
            "Body-Sign of {:?}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let body_sign = resp
        .headers()
        .get("Body-Sign")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        body_sign,
        json,
    }
}

/// A License 1.0 callback: GET with the params signed as protocol §3.2.
pub async fn v1(c: &reqwest::Client, d: &Daemon, params: &[(&str, &str)]) -> Answer {
    v1_at(c, d.addr, params).await
}

/// [`v1`] to a daemon known by its address.
pub async fn v1_at(c: &reqwest::Client, addr: SocketAddr, params: &[(&str, &str)]) -> Answer {
    let key = AccessKey::new(ACCESS_KEY);
    let query = sign_v1_query(&key, params, Timestamp::now());
    let url = format!("http://{addr}{CALLBACK}?{query}");
    answer(c.get(url).send().await.unwrap()).await
}

/// A License 1.0 callback with a query as given.
pub async fn v1_raw(c: &reqwest::Client, d: &Daemon, query: &str) -> Answer {
    let url = format!("{}?{query}", d.url(CALLBACK));
    answer(c.get(url).send().await.unwrap()).await
}

/// An online-activation callback: POST JSON signed as protocol §3.4 / §12.2, fresh nonce, now.
pub async fn v2(c: &reqwest::Client, d: &Daemon, body: &Value) -> Answer {
    let body = serde_json::to_vec(body).unwrap();
    let now_ms = Timestamp::now().unix() * 1000;
    v2_raw(c, d, &body, &random_nonce(), now_ms).await
}

/// An online-activation callback with body, nonce and timestamp as given.
pub async fn v2_raw(
    c: &reqwest::Client,
    d: &Daemon,
    body: &[u8],
    nonce: &str,
    ts_ms: i64,
) -> Answer {
    let key = AccessKey::new(ACCESS_KEY);
    v2_query(c, d, body, &sign_v2_query(&key, body, nonce, ts_ms)).await
}

/// An online-activation callback with body and signed query string as given.
pub async fn v2_query(c: &reqwest::Client, d: &Daemon, body: &[u8], query: &str) -> Answer {
    let url = format!("{}?{query}", d.url(CALLBACK));
    let resp = c
        .post(url)
        .header("Content-Type", "application/json;charset=utf8")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    answer(resp).await
}

/// `GET /admin/v1/events?{query}` of `d`, as a future that owns what it needs (to be spawned
/// while the test goes on, for a long poll).
pub fn events_page(
    c: &reqwest::Client,
    d: &Daemon,
    query: &str,
) -> impl std::future::Future<Output = Value> + Send + 'static {
    let req = c
        .get(format!("{}/admin/v1/events?{query}", d.admin_url()))
        .bearer_auth(d.admin_token());
    async move { req.send().await.unwrap().json().await.unwrap() }
}

/// A call to the admin API (`/admin/v1{path}`) with the daemon's token: (status, JSON body).
pub async fn admin(
    c: &reqwest::Client,
    d: &Daemon,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = c
        .request(method, format!("{}/admin/v1{path}", d.admin_url()))
        .bearer_auth(d.admin_token());
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `licd serve` flags that point its open-API client at `base_url` with `market`'s
/// credentials (the SK written owner-only under `dir`) and 1 s first retries.
pub fn market_flags(dir: &Path, base_url: &str, market: &fake_market::FakeMarket) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let sk = dir.join("marketplace.sk");
    write_secret(&sk, market.sk().as_bytes());
    vec![
        "--marketplace-api".into(),
        base_url.into(),
        "--marketplace-ak".into(),
        market.ak().into(),
        "--marketplace-sk-file".into(),
        sk.display().to_string(),
        "--outbox-retry-secs".into(),
        "1".into(),
    ]
}

/// [`Daemon::start`] talking to `market`, with `extra` flags.
pub fn start_with_market(dir: &Path, market: &fake_market::FakeMarket, extra: &[&str]) -> Daemon {
    let mut flags = market_flags(dir, &market.url(), market);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Daemon::start(dir, &flags)
}

/// License `id` as the admin API shows it.
pub async fn license_json(c: &reqwest::Client, d: &Daemon, id: &str) -> Value {
    let (status, body) = admin(c, d, reqwest::Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The audit events of license `id`, oldest first; the hash chain must be intact.
pub async fn audit_events(c: &reqwest::Client, d: &Daemon, id: &str) -> Vec<Value> {
    let (status, body) = admin(
        c,
        d,
        reqwest::Method::GET,
        &format!("/licenses/{id}/audit"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain"]["intact"], true, "{body}");
    body["events"].as_array().unwrap().clone()
}

/// The actions of the events that record a dial-test call answered without a change.
pub fn absorbed_actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e["detail"]["absorbed"].is_string())
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

/// Waits up to `within` for the metric `sample` to read `want` and returns what it read last:
/// a job's state is recorded just after the marketplace has seen its call, so a test that saw
/// the call must not read the gauge in the same instant.
pub async fn wait_metric(
    c: &reqwest::Client,
    d: &Daemon,
    sample: &str,
    want: f64,
    within: Duration,
) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let v = metric(c, d, sample).await;
        if v == want || Instant::now() >= deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole `/metrics` page.
pub async fn metrics_text(c: &reqwest::Client, d: &Daemon) -> String {
    let resp = c.get(d.url("/metrics")).send().await.unwrap();
    resp.text().await.unwrap()
}

/// The value of one Prometheus sample, e.g. `licd_licenses{status="active"}`.
pub async fn metric(c: &reqwest::Client, d: &Daemon, sample: &str) -> f64 {
    metrics_text(c, d)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// The service of issuer `acme` on the test store in `dir` (sled, or PostgreSQL under
/// `LICD_TEST_BACKEND=postgres`), signing with a fixed key, fingerprints of 3 components or
/// more required; and a verifier of its tokens for product `P1`.
pub async fn acme_service(dir: &Path) -> (licd::service::Service, Verifier) {
    let store: Arc<dyn licd::store::Store> = pg::test_store(dir).await;
    let key = Arc::new(client_verifier::SecretKey::from_seed(&[9; 32]));
    let verifier = Verifier::builder()
        .trust(key.public_key().clone())
        .issuer("acme")
        .product("P1")
        .build();
    let service = licd::service::Service::new(
        store,
        key,
        licd::service::Settings {
            issuer: "acme".into(),
            freeze_days: 15,
            require_fingerprint: true,
            min_fingerprint_components: 3,
        },
    );
    (service, verifier)
}

/// A License 1.0 purchase of `quantity` seats of product `P1` from [`acme_service`], bought on
/// 2026-01-01 and valid until 2027-01-01; its unbound token.
pub async fn acme_purchase(
    service: &licd::service::Service,
    order: &str,
    id: &str,
    quantity: u32,
) -> String {
    let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
    let (_, token) = service
        .issue_classic(
            licd::service::NewPurchase {
                order: order.into(),
                business_id: id.into(),
                customer: "cust".into(),
                customer_name: None,
                product: "P1".into(),
                sku: "S1".into(),
                exp: Some(t("2027-01-01T00:00:00Z")),
                quantity,
            },
            licd::service::Caller {
                action: "getLicense",
                test: false,
                signed_at: None,
            },
            t("2026-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    token
}

/// `POST /v1/codes/activate` of `code` on the machine `fingerprint`: (status, Retry-After,
/// body).
pub async fn activate_code(
    c: &reqwest::Client,
    d: &Daemon,
    code: &str,
    fingerprint: &str,
) -> (u16, Option<String>, Value) {
    let r = c
        .post(d.url("/v1/codes/activate"))
        .json(&serde_json::json!({"code": code, "fingerprint": fingerprint}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}
