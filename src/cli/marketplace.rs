//! `licctl marketplace`: the marketplace's side of the protocol, for trying licd out, for the
//! Seller Console's debug cases, and for load tests. Calls are signed with the same code the
//! daemon verifies with (`crate::marketplace`), exactly as the marketplace documents it (docs/marketplace-protocol.md).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use client_verifier::Timestamp;
use serde_json::{Value, json};

use super::{CliError, print_table};
use crate::marketplace::{
    AccessKey, V2Reading, random_nonce, sign_v1_query, sign_v2_query_as, verify_body_sign,
};

/// `licctl marketplace …`
#[derive(Debug, Subcommand)]
pub enum MarketplaceCommand {
    /// Send one correctly signed callback and print the answer, checking its Body-Sign.
    ///
    /// Example: licctl marketplace send getLicense --url http://127.0.0.1:8080/marketplace/callback
    /// --access-key-file data/access.key --param orderId=CS0001 --param customerId=c1
    /// --param businessId=b1 --param productId=P1
    Send(SendArgs),
    /// Load generator: N signed getLicense calls for distinct orders at concurrency C.
    ///
    /// Example: licctl marketplace load --url http://127.0.0.1:8080/marketplace/callback
    /// --access-key-file data/access.key --requests 20000 --concurrency 32
    Load(LoadArgs),
    /// Rehearse the Seller Console's interface debugging and the twice-daily dial tests against
    /// the public address: every debug case of each kind of goods (testFlag=1), each sent twice,
    /// then the saved cases replayed; checks TLS (host, 14+ days left), result codes, Body-Sign,
    /// repeats answering alike and the 5 s limit, and prints what passes and what to fix.
    ///
    /// Example: `licctl marketplace rehearse --url https://licd.example.com/marketplace/callback
    /// --access-key-file /etc/licd/access.key --goods 1.0`
    Rehearse(super::rehearse::RehearseArgs),
}

/// Where and how to call.
#[derive(Debug, Args)]
pub struct Target {
    /// The production address (callback URL) of the daemon.
    #[arg(long)]
    pub url: String,
    /// File holding the access key (the daemon's --access-key-file, or data/access.key).
    #[arg(long, value_name = "FILE")]
    pub access_key_file: PathBuf,
}

/// Arguments of `marketplace send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The activity: getLicense, refreshLicense, expireLicense, releaseLicense (License 1.0, GET);
    /// newInstance, refreshInstance, updateInstanceStatus, releaseInstance, getLicenseAsync,
    /// queryInstance, upgradeInstance (online activation: add --v2); refreshLicenseCode,
    /// updateLicenseCodeStatus, releaseLicenseCode (License 2.0: add --v2, the code as
    /// --param license=CODE).
    pub activity: String,
    #[command(flatten)]
    pub target: Target,
    /// Send as online activation: POST JSON signed with signature/timestamp/nonce.
    #[arg(long)]
    pub v2: bool,
    /// With --v2: the documented reading of the V2 signature to sign with: license2 (two keyed
    /// HMACs), saas (SHA-256 of the body inside the HMAC) or kit (the body itself), to check what
    /// a licd pinned with --v2-signature accepts (docs/marketplace-protocol.md §3.4).
    #[arg(long, value_name = "READING", default_value = "license2", value_parser = parse_reading, requires = "v2")]
    pub reading: V2Reading,
    /// A request parameter, name=value; repeat for each.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
}

pub(super) fn parse_reading(name: &str) -> Result<V2Reading, String> {
    V2Reading::parse(name).ok_or_else(|| "expected license2, saas or kit".to_string())
}

/// Arguments of `marketplace load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: Target,
    /// How many calls.
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// How many in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Calls per second to start, evenly spaced (at most --concurrency in flight); 0 for as
    /// fast as possible. A steady rate is what a soak test needs.
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// Mix activities like a live marketplace instead of only new orders: of every 8 calls, 6
    /// issue new licenses, 1 repeats the getLicense of an order issued about 1,000 calls
    /// earlier and 1 renews that license (refreshLicense, a new renewal order each time).
    #[arg(long)]
    pub mix: bool,
}

/// The parameters of `getLicense` for load call `i` of run `run`.
fn new_order(run: &str, i: usize) -> Vec<(String, String)> {
    vec![
        ("orderId".to_string(), format!("LOAD-{run}-{i}")),
        ("businessId".to_string(), format!("load-{run}-{i}")),
        ("customerId".to_string(), format!("cust-{}", i % 1000)),
        ("productId".to_string(), "OFFI-LOAD".to_string()),
        ("skuCode".to_string(), "sku-load".to_string()),
        ("expireTime".to_string(), "20991231000000".to_string()),
        ("testFlag".to_string(), "1".to_string()),
    ]
}

/// Runs a `marketplace` subcommand.
pub fn run(cmd: MarketplaceCommand, json: bool) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::negative(format!("cannot start the runtime: {e}")))?;
    match cmd {
        MarketplaceCommand::Send(a) => runtime.block_on(send(a, json)),
        MarketplaceCommand::Load(a) => runtime.block_on(load(a, json)),
        MarketplaceCommand::Rehearse(a) => runtime.block_on(super::rehearse::rehearse(a, json)),
    }
}

pub(super) fn read_key(path: &PathBuf) -> Result<AccessKey, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("--access-key-file {}: {e}", path.display())))?;
    Ok(AccessKey::new(text.trim()))
}

fn http_client() -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|e| CliError::negative(format!("cannot build an HTTP client: {e}")))
}

/// One signed request: (method is GET for V1, POST for V2).
pub(super) fn build(
    key: &AccessKey,
    url: &str,
    activity: &str,
    params: &[(String, String)],
    v2: Option<V2Reading>,
) -> (String, Option<Vec<u8>>) {
    if let Some(reading) = v2 {
        let mut body = serde_json::Map::new();
        body.insert("activity".into(), json!(activity));
        for (k, v) in params {
            body.insert(k.clone(), json!(v));
        }
        let body = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
        let ts = Timestamp::now().unix() * 1000;
        let q = sign_v2_query_as(reading, key, &body, &random_nonce(), ts);
        (format!("{url}?{q}"), Some(body))
    } else {
        let mut all: Vec<(&str, &str)> = vec![("activity", activity)];
        all.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let q = sign_v1_query(key, &all, Timestamp::now());
        (format!("{url}?{q}"), None)
    }
}

pub(super) async fn call(
    client: &reqwest::Client,
    url: String,
    body: Option<Vec<u8>>,
) -> Result<(u16, Option<String>, Vec<u8>), reqwest::Error> {
    let req = match body {
        Some(b) => client
            .post(url)
            .header("Content-Type", "application/json;charset=utf8")
            .body(b),
        None => client.get(url),
    };
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let sign = resp
        .headers()
        .get("Body-Sign")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await?.to_vec();
    Ok((status, sign, bytes))
}

async fn send(a: SendArgs, json: bool) -> Result<(), CliError> {
    let key = read_key(&a.target.access_key_file)?;
    let params = a
        .params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::usage(format!("--param {p:?}: expected name=value")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (url, body) = build(
        &key,
        &a.target.url,
        &a.activity,
        &params,
        a.v2.then_some(a.reading),
    );
    let (status, sign, bytes) = call(&http_client()?, url, body)
        .await
        .map_err(|e| CliError::negative(format!("{}: {e}", a.target.url)))?;
    let signed = sign
        .as_deref()
        .is_some_and(|s| verify_body_sign(&key, &bytes, s));
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if json {
        println!(
            "{}",
            json!({ "http_status": status, "body_sign_valid": signed, "response": answer })
        );
    } else {
        let mut rows = vec![
            ("http status".to_string(), status.to_string()),
            (
                "Body-Sign".to_string(),
                if signed {
                    "valid".into()
                } else {
                    format!("INVALID ({sign:?})")
                },
            ),
        ];
        if let Value::Object(m) = &answer {
            for (k, v) in m {
                rows.push((
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                ));
            }
        } else {
            rows.push(("body".into(), String::from_utf8_lossy(&bytes).into_owned()));
        }
        print_table(&rows);
    }
    if !signed {
        return Err(CliError::negative(
            "the answer's Body-Sign does not verify with this access key",
        ));
    }
    match answer["resultCode"].as_str() {
        Some("000000" | "000004") => Ok(()),
        Some(code) => Err(CliError::negative(format!(
            "result {code}: {}",
            answer["resultMsg"].as_str().unwrap_or("")
        ))),
        None => Err(CliError::negative("the answer is not a marketplace result")),
    }
}

async fn load(a: LoadArgs, json: bool) -> Result<(), CliError> {
    if a.requests == 0 || a.concurrency == 0 {
        return Err(CliError::usage(
            "--requests and --concurrency must be at least 1",
        ));
    }
    let key = Arc::new(read_key(&a.target.access_key_file)?);
    let client = http_client()?;
    // Distinct orders per run, so a second run issues new licenses instead of repeating.
    let run = random_nonce()[..8].to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal().then(|| {
        let done = done.clone();
        let total = a.requests;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let n = done.load(Ordering::Relaxed);
                eprint!("\r{n}/{total} ({:.0}%)", 100.0 * n as f64 / total as f64);
                if n >= total {
                    eprintln!();
                    break;
                }
            }
        })
    });
    let mut workers = Vec::new();
    let (rate, mix) = (a.rate, a.mix);
    for _ in 0..a.concurrency.min(a.requests) {
        let (key, client, next, done, run, url) = (
            key.clone(),
            client.clone(),
            next.clone(),
            done.clone(),
            run.clone(),
            a.target.url.clone(),
        );
        let total = a.requests;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut codes: BTreeMap<String, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                if rate > 0 {
                    let due = started + Duration::from_secs_f64(i as f64 / f64::from(rate));
                    tokio::time::sleep_until(due.into()).await;
                }
                // With --mix, an earlier order (long finished at any sane concurrency) is
                // repeated or renewed; until there is one, new orders are issued.
                // Call numbers divisible by 8 are always new orders: `earlier` is one.
                let earlier = (i.saturating_sub(1000)) / 8 * 8;
                let (activity, params) = match (mix && i >= 1000).then_some(i % 8) {
                    Some(6) => ("getLicense", new_order(&run, earlier)),
                    Some(7) => (
                        "refreshLicense",
                        vec![
                            ("instanceId".to_string(), format!("load-{run}-{earlier}")),
                            ("orderId".to_string(), format!("RENEW-{run}-{i}")),
                            (
                                "expireTime".to_string(),
                                format!("2100{:02}01000000", 1 + i % 12),
                            ),
                        ],
                    ),
                    _ => ("getLicense", new_order(&run, i)),
                };
                let (u, body) = build(&key, &url, activity, &params, None);
                let t0 = Instant::now();
                let code = match call(&client, u, body).await {
                    Ok((200, _, bytes)) => serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .and_then(|v| v["resultCode"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "unreadable".into()),
                    Ok((status, _, _)) => format!("http-{status}"),
                    Err(e) if e.is_timeout() => "timeout".into(),
                    Err(_) => "connection-error".into(),
                };
                latencies.push(t0.elapsed());
                *codes.entry(code).or_default() += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            (latencies, codes)
        }));
    }
    let mut latencies = Vec::with_capacity(a.requests);
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for w in workers {
        let (l, c) = w
            .await
            .map_err(|e| CliError::negative(format!("a worker failed: {e}")))?;
        latencies.extend(l);
        for (k, v) in c {
            *codes.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    if let Some(p) = progress {
        let _ = p.await;
    }
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    let throughput = latencies.len() as f64 / elapsed.as_secs_f64();
    let ok = codes.get("000000").copied().unwrap_or(0);
    if json {
        println!(
            "{}",
            json!({
                "requests": latencies.len(), "concurrency": a.concurrency,
                "seconds": elapsed.as_secs_f64(), "throughput_per_s": throughput,
                "latency_ms": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0) },
                "result_codes": codes,
            })
        );
    } else {
        let mut rows = vec![
            ("requests".to_string(), latencies.len().to_string()),
            ("concurrency".to_string(), a.concurrency.to_string()),
            (
                "elapsed".to_string(),
                format!("{:.2} s", elapsed.as_secs_f64()),
            ),
            ("throughput".to_string(), format!("{throughput:.0} calls/s")),
            ("p50".to_string(), format!("{:.2} ms", pct(0.50))),
            ("p90".to_string(), format!("{:.2} ms", pct(0.90))),
            ("p99".to_string(), format!("{:.2} ms", pct(0.99))),
            ("max".to_string(), format!("{:.2} ms", pct(1.0))),
        ];
        for (code, n) in &codes {
            rows.push((format!("result {code}"), n.to_string()));
        }
        print_table(&rows);
    }
    if ok < latencies.len() {
        return Err(CliError::negative(format!(
            "{} of {} calls did not succeed",
            latencies.len() - ok,
            latencies.len()
        )));
    }
    Ok(())
}
