//! `licctl marketplace rehearse`: the Seller Console's interface debugging (接口调测) and the
//! twice-daily dial tests, sent to licd's public address before the marketplace sends them.
//!
//! Each kind of goods has its sequence of debug cases (every call `testFlag=1`). Each case is
//! sent twice in a row, as the marketplace resends one that failed, and the whole sequence is
//! sent again, freshly signed, as the dial tests replay the saved cases. Every answer is checked
//! as the marketplace checks it: HTTP 200, a `Body-Sign` that verifies with the access key, the
//! documented result code and fields, within 5 s; a repeat must answer what the first call did.
//! Before the calls, the TLS certificate is checked for the host and for 14 more days.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use client_verifier::Timestamp;
use serde_json::{Value, json};

use super::marketplace::{Target, build, call, parse_reading, read_key};
use super::{CliError, emit};
use crate::marketplace::{AccessKey, V2Reading, verify_body_sign};
use crate::tls_check::{ProbeError, Validity};

/// The marketplace gives up on an answer after this long (protocol §10).
const DEADLINE: Duration = Duration::from_secs(5);

/// Arguments of `marketplace rehearse`.
#[derive(Debug, Args)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub target: Target,
    /// The goods whose debug cases to send: 1.0 (License 1.0), online (online activation,
    /// 在线开通), 2.0 (License 2.0 codes); repeat the flag for several [default: all three]
    #[arg(long, value_name = "GOODS", value_parser = parse_goods)]
    pub goods: Vec<Goods>,
    /// The reading of the V2 signature to sign online and 2.0 calls with: license2, saas or kit
    /// (docs/marketplace-protocol.md §3.4).
    #[arg(long, value_name = "READING", default_value = "license2", value_parser = parse_reading)]
    pub reading: V2Reading,
    /// The productId of the License 1.0 debug order (the listing's product id, so the catalog's
    /// entry for it is exercised).
    #[arg(long, value_name = "ID", default_value = "REHEARSAL")]
    pub product_id: String,
    /// The skuCode of the License 1.0 debug order.
    #[arg(long, value_name = "SKU")]
    pub sku_code: Option<String>,
    /// Names the debug orders (REHEARSAL-CS-1 …). Keep the default and every run replays the
    /// same saved cases, as the dial tests do; a new name starts a fresh set of test records.
    #[arg(long, value_name = "NAME", default_value = "REHEARSAL")]
    pub cases: String,
    /// PEM file of root certificates to trust besides the public ones (a private CA, or a
    /// self-signed certificate while trying licd out). The marketplace trusts only public ones.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// A kind of License goods, each with its own callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goods {
    /// License 1.0: signed GET callbacks, the license string in the answer.
    V1,
    /// Online activation (在线开通License): V2 instance callbacks and getLicenseAsync.
    Online,
    /// License 2.0: V2 callbacks about activation codes.
    V2,
}

impl Goods {
    const ALL: [Goods; 3] = [Goods::V1, Goods::Online, Goods::V2];

    fn name(self) -> &'static str {
        match self {
            Goods::V1 => "1.0",
            Goods::Online => "online",
            Goods::V2 => "2.0",
        }
    }
}

fn parse_goods(s: &str) -> Result<Goods, String> {
    Goods::ALL
        .into_iter()
        .find(|g| g.name() == s)
        .ok_or_else(|| "expected 1.0, online or 2.0".to_string())
}

/// What a case's answer must carry besides its result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `000000`.
    Done,
    /// `000000` with `instanceId` and `license` (getLicense).
    Issued,
    /// `000000` with `instanceId` (newInstance).
    Created,
    /// `000000` or `000004` (getLicenseAsync: answered now, or uploaded later).
    Accepted,
}

/// One debug case. `instance` marks a case that names the instance an earlier case created.
#[derive(Debug, Clone)]
struct Case {
    goods: Goods,
    activity: &'static str,
    params: Vec<(String, String)>,
    expect: Expect,
    needs_instance: bool,
}

fn case(goods: Goods, activity: &'static str, expect: Expect, params: &[(&str, String)]) -> Case {
    let mut params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    params.push(("testFlag".into(), "1".into()));
    Case {
        goods,
        activity,
        params,
        expect,
        needs_instance: false,
    }
}

fn with_instance(mut c: Case) -> Case {
    c.needs_instance = true;
    c
}

/// The debug cases of `goods`, named after `name`, dated from `now`.
fn cases(goods: Goods, a: &RehearseArgs, now: Timestamp) -> Vec<Case> {
    let n = &a.cases;
    let compact = |days: i64| {
        // yyyyMMddHHmmss
        let t = now.add_secs(days * 86_400).to_rfc3339();
        t.chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect::<String>()
    };
    let spaced = |days: i64| {
        // yyyy-MM-dd HH:mm:ss z, as getLicenseAsync's example writes it
        let t = now.add_secs(days * 86_400).to_rfc3339();
        format!("{} {} z", &t[..10], &t[11..19])
    };
    match goods {
        Goods::V1 => {
            let mut get = vec![
                ("orderId", format!("{n}-CS-1")),
                ("businessId", format!("{n}-B-1")),
                ("customerId", format!("{n}-customer")),
                ("productId", a.product_id.clone()),
                ("expireTime", compact(365)),
                ("periodType", "year".into()),
            ];
            if let Some(sku) = &a.sku_code {
                get.push(("skuCode", sku.clone()));
            }
            vec![
                case(goods, "getLicense", Expect::Issued, &get),
                with_instance(case(
                    goods,
                    "refreshLicense",
                    Expect::Done,
                    &[
                        ("orderId", format!("{n}-CS-2")),
                        ("expireTime", compact(730)),
                    ],
                )),
                with_instance(case(goods, "expireLicense", Expect::Done, &[])),
                with_instance(case(goods, "releaseLicense", Expect::Done, &[])),
            ]
        }
        Goods::Online => {
            let status = |s: &str| {
                with_instance(case(
                    goods,
                    "updateInstanceStatus",
                    Expect::Done,
                    &[("status", s.to_string())],
                ))
            };
            vec![
                case(
                    goods,
                    "newInstance",
                    Expect::Created,
                    &[
                        ("orderId", format!("{n}-CS-3")),
                        ("orderLineId", format!("{n}-CS-3-000001")),
                        ("businessId", format!("{n}-B-3")),
                    ],
                ),
                with_instance(case(
                    goods,
                    "refreshInstance",
                    Expect::Done,
                    &[
                        ("orderId", format!("{n}-CS-4")),
                        ("orderLineId", format!("{n}-CS-4-000001")),
                        ("scene", "RENEWAL".into()),
                        ("expireTime", format!("{}000", compact(730))),
                    ],
                )),
                status("FREEZE"),
                status("UNFREEZE"),
                with_instance(case(
                    goods,
                    "getLicenseAsync",
                    Expect::Accepted,
                    &[
                        ("eventId", format!("{n}-EV-1")),
                        (
                            "deviceFingerprint",
                            "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672".into(),
                        ),
                        ("effectiveTime", spaced(0)),
                        ("expireTime", spaced(365)),
                    ],
                )),
                with_instance(case(
                    goods,
                    "releaseInstance",
                    Expect::Done,
                    &[
                        ("orderId", format!("{n}-CS-3")),
                        ("orderLineId", format!("{n}-CS-3-000001")),
                    ],
                )),
            ]
        }
        Goods::V2 => {
            let code = ("license", format!("{n}-CODE-1"));
            vec![
                case(
                    goods,
                    "refreshLicenseCode",
                    Expect::Done,
                    &[
                        code.clone(),
                        ("orderId", format!("{n}-CS-5")),
                        ("orderLineId", format!("{n}-CS-5-000001")),
                        ("productId", a.product_id.clone()),
                        ("scene", "RENEWAL".into()),
                        ("expireTime", compact(365)),
                    ],
                ),
                case(
                    goods,
                    "updateLicenseCodeStatus",
                    Expect::Done,
                    &[code.clone(), ("status", "FREEZE".into())],
                ),
                case(
                    goods,
                    "updateLicenseCodeStatus",
                    Expect::Done,
                    &[code.clone(), ("status", "UNFREEZE".into())],
                ),
                case(goods, "releaseLicenseCode", Expect::Done, &[code]),
            ]
        }
    }
}

/// One call's outcome.
#[derive(Debug, Clone)]
struct Check {
    round: &'static str,
    goods: Goods,
    activity: String,
    result: String,
    millis: Option<u128>,
    /// Empty when it passed.
    problem: String,
    answer: Value,
}

/// Runs the rehearsal; an error when any check failed.
pub async fn rehearse(a: RehearseArgs, json_out: bool) -> Result<(), CliError> {
    let key = read_key(&a.target.access_key_file)?;
    let url = reqwest::Url::parse(&a.target.url)
        .map_err(|e| CliError::usage(format!("--url {}: {e}", a.target.url)))?;
    let host = url
        .host_str()
        .ok_or_else(|| CliError::usage(format!("--url {}: no host", a.target.url)))?
        .to_string();
    let extra_roots = match &a.ca_file {
        Some(path) => crate::pem::certificates(path).map_err(CliError::usage)?,
        None => Vec::new(),
    };
    let mut builder = reqwest::Client::builder()
        // Long enough to say how slow a slow answer was.
        .timeout(DEADLINE + Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none());
    for root in &extra_roots {
        let cert = reqwest::Certificate::from_der(root)
            .map_err(|e| CliError::usage(format!("--ca-file: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    let client = builder
        .build()
        .map_err(|e| CliError::negative(format!("cannot build an HTTP client: {e}")))?;

    // TLS first: with a bad certificate no call would get through, and this says why.
    let now = Timestamp::now();
    let (tls_ok, tls_line) = match url.scheme() {
        "https" => {
            let config = crate::tls_check::client_config(&extra_roots);
            let port = url.port_or_known_default().unwrap_or(443);
            match crate::tls_check::probe(&host, port, config, DEADLINE).await {
                Ok(v) => tls_verdict(&host, v, now),
                Err(e) => (false, tls_failure(&e)),
            }
        }
        "http" => (
            true,
            "warning: plain http:// — the marketplace calls only https:// production addresses; \
             serve TLS (--tls-cert/--tls-key) or put a TLS proxy in front before listing"
                .to_string(),
        ),
        other => {
            return Err(CliError::usage(format!(
                "--url {}: scheme {other} (expected https:// or http://)",
                a.target.url
            )));
        }
    };

    let goods = if a.goods.is_empty() {
        Goods::ALL.to_vec()
    } else {
        a.goods.clone()
    };
    let mut checks = Vec::new();
    if tls_ok {
        for g in goods.iter().copied() {
            let list = cases(g, &a, now);
            let first = run_round("debug", &list, &client, &key, &a, None).await;
            let instance = first.1.clone();
            checks.extend(first.0);
            checks.extend(
                run_round("dial test", &list, &client, &key, &a, Some(instance))
                    .await
                    .0,
            );
        }
    }
    let failed = checks.iter().filter(|c| !c.problem.is_empty()).count();
    let mut notes = Vec::new();
    if goods.contains(&Goods::Online) {
        notes.push(
            "online activation: the device license that getLicenseAsync asks for goes from licd \
             to the marketplace's upload API afterwards; this rehearsal cannot see that upload. \
             Check it with `licctl outbox list` (or the console's Outbox page) and `licd doctor` \
             (open-API keys)."
                .to_string(),
        );
    }
    notes.push(format!(
        "the calls carry testFlag=1: the records they create are marked as test and hidden from \
         `licctl licenses list` and the console's dashboard (show them with --include-test). \
         Every run replays the same cases ({}-…), as the dial tests do.",
        a.cases
    ));

    if json_out {
        let rows: Vec<Value> = checks
            .iter()
            .map(|c| {
                json!({
                    "round": c.round, "goods": c.goods.name(), "activity": c.activity,
                    "result": c.result, "millis": c.millis, "passed": c.problem.is_empty(),
                    "problem": c.problem, "answer": c.answer,
                })
            })
            .collect();
        emit(
            &json!({
                "url": a.target.url, "reading": a.reading.name(),
                "tls": { "passed": tls_ok, "detail": tls_line },
                "checks": rows, "failed": failed, "notes": notes,
                "passed": tls_ok && failed == 0,
            })
            .to_string(),
            true,
        );
    } else {
        print_report(&a, &tls_line, &checks, &notes);
    }
    if !tls_ok {
        return Err(CliError::negative(format!("TLS: {tls_line}")));
    }
    if failed > 0 {
        return Err(CliError::negative(format!(
            "{failed} of {} checks failed: the marketplace's debugging would fail the same way",
            checks.len()
        )));
    }
    Ok(())
}

fn tls_verdict(host: &str, v: Validity, now: Timestamp) -> (bool, String) {
    let (ok, words) = v.verdict(now);
    (ok, format!("certificate for {host}: {words}"))
}

fn tls_failure(e: &ProbeError) -> String {
    let fix = match e {
        ProbeError::Expired => "; renew it (--tls-cert) and restart licd",
        ProbeError::WrongHost(_) => {
            "; the certificate must name the host of the production address"
        }
        ProbeError::Untrusted => {
            "; the marketplace trusts public authorities only: serve the full chain (leaf first) from a public CA"
        }
        ProbeError::Handshake(_) => {
            " (does the port speak TLS? an http:// address needs http:// in --url)"
        }
        ProbeError::Connect(_) => "",
    };
    format!("{e}{fix}")
}

/// Sends `list` once, each case twice in a row. `known` is the instance the debug round
/// created, which a dial-test replay must be answered with again.
async fn run_round(
    round: &'static str,
    list: &[Case],
    client: &reqwest::Client,
    key: &AccessKey,
    a: &RehearseArgs,
    known: Option<Option<(String, String)>>,
) -> (Vec<Check>, Option<(String, String)>) {
    let mut checks = Vec::new();
    // (instanceId, license) of the case that creates the goods' instance.
    let mut created: Option<(String, String)> = known.clone().flatten();
    for c in list {
        let mut params = c.params.clone();
        if c.needs_instance {
            match &created {
                Some((instance, _)) => params.push(("instanceId".into(), instance.clone())),
                None => {
                    checks.push(Check {
                        round,
                        goods: c.goods,
                        activity: c.activity.to_string(),
                        result: "-".into(),
                        millis: None,
                        problem: "not sent: the call that creates the instance failed".into(),
                        answer: Value::Null,
                    });
                    continue;
                }
            }
        }
        let v2 = (c.goods != Goods::V1).then_some(a.reading);
        let mut first_ids: Option<(String, String)> = None;
        for attempt in 0..2 {
            let mut check = send_case(client, key, &a.target, c, &params, v2, round).await;
            let ids = ids_of(&check.answer);
            // A slow answer still names the instance: later cases go on with it.
            if check.result == "000000" && created.is_none() {
                created.clone_from(&ids);
            }
            if check.problem.is_empty() && matches!(c.expect, Expect::Issued | Expect::Created) {
                // A repeat, and a dial-test replay, must answer what the first call did.
                let earlier = if attempt == 0 {
                    known.clone().flatten()
                } else {
                    first_ids.clone()
                };
                if let (Some(before), Some(now)) = (&earlier, &ids)
                    && before != now
                {
                    check.problem = format!(
                        "a repeat answered another {} than the first call ({} instead of {}): \
                             the marketplace would deliver two licenses for one order",
                        if before.0 == now.0 {
                            "license"
                        } else {
                            "instanceId"
                        },
                        short(&now.0, &now.1),
                        short(&before.0, &before.1),
                    );
                }
                if attempt == 0 {
                    first_ids.clone_from(&ids);
                }
            }
            if attempt == 1 {
                check.activity.push_str(" (resent)");
            }
            checks.push(check);
        }
    }
    (checks, created)
}

fn short(instance: &str, license: &str) -> String {
    let tail: String = license.chars().take(12).collect();
    if license.is_empty() {
        instance.to_string()
    } else {
        format!("{instance}/{tail}…")
    }
}

/// The `instanceId` and `license` an answer carries.
fn ids_of(answer: &Value) -> Option<(String, String)> {
    let instance = answer["instanceId"].as_str()?.to_string();
    let license = answer["license"].as_str().unwrap_or_default().to_string();
    Some((instance, license))
}

async fn send_case(
    client: &reqwest::Client,
    key: &AccessKey,
    target: &Target,
    c: &Case,
    params: &[(String, String)],
    v2: Option<V2Reading>,
    round: &'static str,
) -> Check {
    let (url, body) = build(key, &target.url, c.activity, params, v2);
    let started = Instant::now();
    let outcome = call(client, url, body).await;
    let elapsed = started.elapsed();
    let mut check = Check {
        round,
        goods: c.goods,
        activity: c.activity.to_string(),
        result: "-".into(),
        millis: Some(elapsed.as_millis()),
        problem: String::new(),
        answer: Value::Null,
    };
    let (status, sign, bytes) = match outcome {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            check.problem = format!(
                "no answer in {} s: the marketplace gives up after {} s and counts a failure",
                elapsed.as_secs(),
                DEADLINE.as_secs()
            );
            return check;
        }
        Err(e) => {
            check.millis = None;
            check.problem = format!("cannot call {}: {}", target.url, error_chain(&e));
            return check;
        }
    };
    check.answer = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    check.result = check.answer["resultCode"]
        .as_str()
        .map_or_else(|| format!("http {status}"), str::to_string);
    check.problem = judge(
        c,
        status,
        sign.as_deref(),
        &bytes,
        &check.answer,
        key,
        target,
    );
    if check.problem.is_empty() && elapsed > DEADLINE {
        check.problem = format!(
            "answered in {:.1} s: the marketplace gives up after {} s and counts a failure",
            elapsed.as_secs_f64(),
            DEADLINE.as_secs()
        );
    }
    check
}

/// What is wrong with an answer, as the marketplace would see it; empty when nothing is.
fn judge(
    c: &Case,
    status: u16,
    sign: Option<&str>,
    bytes: &[u8],
    answer: &Value,
    key: &AccessKey,
    target: &Target,
) -> String {
    if status != 200 {
        return format!(
            "HTTP {status}: the marketplace expects 200 with a result code (is --url the production address, path included?)"
        );
    }
    let code = answer["resultCode"].as_str().unwrap_or("");
    if code == "000001" {
        let reading = if c.goods == Goods::V1 {
            ""
        } else {
            ", or the daemon is pinned (--v2-signature) to another reading than --reading"
        };
        return format!(
            "refused as wrongly signed (000001): the access key in {} is not the daemon's \
             (Seller Console > 应用工具 > 密钥管理){reading}",
            target.access_key_file.display()
        );
    }
    if !sign.is_some_and(|s| verify_body_sign(key, bytes, s)) {
        return format!(
            "the answer's Body-Sign {}: the marketplace drops answers it cannot verify",
            if sign.is_some() {
                "does not verify with this access key"
            } else {
                "header is missing"
            }
        );
    }
    let expected = match c.expect {
        Expect::Accepted => code == "000000" || code == "000004",
        _ => code == "000000",
    };
    if !expected {
        let msg = answer["resultMsg"].as_str().unwrap_or("");
        return format!("result {code} ({msg}): a debug call must succeed");
    }
    let has = |field: &str| answer[field].as_str().is_some_and(|s| !s.is_empty());
    match c.expect {
        Expect::Issued if !(has("instanceId") && has("license")) => {
            "the answer lacks instanceId or license: the marketplace has nothing to deliver".into()
        }
        Expect::Created if !has("instanceId") => {
            "the answer lacks instanceId: the marketplace cannot track the instance".into()
        }
        _ => String::new(),
    }
}

/// An error with its causes, which is where reqwest keeps the reason (refused, TLS, DNS).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn print_report(a: &RehearseArgs, tls_line: &str, checks: &[Check], notes: &[String]) {
    emit(
        &format!(
            "Rehearsal of the marketplace's debugging and dial tests against {}",
            a.target.url
        ),
        true,
    );
    emit(&format!("TLS       {tls_line}"), true);
    if !checks.is_empty() {
        emit("", true);
        let width = checks
            .iter()
            .map(|c| c.activity.chars().count())
            .max()
            .unwrap_or(0)
            .max(8);
        emit(
            &format!(
                "{:<9}  {:<6}  {:<width$}  {:<8}  {:>7}  verdict",
                "round", "goods", "activity", "result", "time"
            ),
            true,
        );
        for c in checks {
            let time = c
                .millis
                .map_or_else(|| "-".to_string(), |m| format!("{m} ms"));
            let verdict = if c.problem.is_empty() {
                "ok".to_string()
            } else {
                format!("FAIL: {}", c.problem)
            };
            emit(
                &format!(
                    "{:<9}  {:<6}  {:<width$}  {:<8}  {:>7}  {verdict}",
                    c.round,
                    c.goods.name(),
                    c.activity,
                    c.result,
                    time
                ),
                true,
            );
        }
    }
    if checks.is_empty() {
        return;
    }
    emit("", true);
    for n in notes {
        emit(&format!("note: {n}"), true);
    }
}
