//! `licctl leases load`: the floating-license load generator. It leases N seats spread over the
//! floating licenses in a file (one license token per line), each for a distinct program on a
//! distinct machine, then renews those leases for a while at concurrency C, and reports the
//! throughput and latency of both phases. What BENCHMARKS.md's 100,000-lease figures come from
//! (`scripts/bench-leases.sh`); an ISV can point it at a staging licd the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::{CliError, print_table};

/// Arguments of `leases load`.
#[derive(Debug, Args)]
pub struct LeaseLoadArgs {
    /// The daemon's public base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A file with one floating license token per line; leases are spread over them in turn.
    #[arg(long, value_name = "FILE")]
    pub licenses: PathBuf,
    /// How many leases to take (each a distinct instance on a distinct machine).
    #[arg(long, default_value_t = 1_000)]
    pub leases: usize,
    /// How long to renew them afterwards, in seconds (0: grant only).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// One phase's outcome: latencies of the successes, answers by HTTP status, elapsed time.
struct Phase {
    latencies: Vec<Duration>,
    statuses: BTreeMap<String, usize>,
    elapsed: Duration,
}

impl Phase {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i =
            ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn report(&self) -> Value {
        json!({
            "ok": self.latencies.len(),
            "seconds": self.elapsed.as_secs_f64(),
            "per_s": self.rate(),
            "latency_ms": { "p50": self.pct(0.50), "p99": self.pct(0.99), "max": self.pct(1.0) },
            "statuses": self.statuses,
        })
    }
}

/// The machine of lease `i`: a fingerprint no other lease of the run shares.
fn machine(run: u32, i: usize) -> String {
    let n = i as u32;
    format!(
        "02:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}|SN-{run:08x}-{i}|BOARD-{i}|CPU-{i}",
        run & 0xff,
        (n >> 24) & 0xff,
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// Runs `licctl leases load`.
pub async fn run(a: LeaseLoadArgs, json_out: bool) -> Result<(), CliError> {
    if a.leases == 0 || a.concurrency == 0 {
        return Err(CliError::usage(
            "--leases and --concurrency must be at least 1",
        ));
    }
    let text = std::fs::read_to_string(&a.licenses)
        .map_err(|e| CliError::usage(format!("--licenses {}: {e}", a.licenses.display())))?;
    let licenses: Arc<Vec<String>> = Arc::new(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    );
    if licenses.is_empty() {
        return Err(CliError::usage(format!(
            "--licenses {}: no license token in it",
            a.licenses.display()
        )));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(a.concurrency * 2)
        .build()
        .map_err(|e| CliError::negative(format!("cannot build an HTTP client: {e}")))?;
    let run = u32::from_le_bytes(
        crate::crypto::random_bytes::<4>().map_err(|e| CliError::negative(e.to_string()))?,
    );
    let base = a.url.trim_end_matches('/').to_string();

    // Phase 1: take the leases.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..a.concurrency.min(a.leases) {
        let (client, next, licenses, url) = (
            client.clone(),
            next.clone(),
            licenses.clone(),
            format!("{base}/v1/leases"),
        );
        let total = a.leases;
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = json!({
                    "license": licenses[i % licenses.len()],
                    "instance": format!("load-{run:08x}-{i}"),
                    "fingerprint": machine(run, i),
                });
                let t0 = Instant::now();
                let status = match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                        Ok(v) => match v["lease"].as_str() {
                            Some(t) => {
                                got.push(t.to_string());
                                latencies.push(t0.elapsed());
                                "200".to_string()
                            }
                            None => "unreadable".into(),
                        },
                        Err(_) => "unreadable".into(),
                    },
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) if e.is_timeout() => "timeout".into(),
                    Err(_) => "connection-error".into(),
                };
                *statuses.entry(status).or_default() += 1;
            }
            (got, latencies, statuses)
        }));
    }
    let mut tokens = Vec::with_capacity(a.leases);
    let mut grants = Phase {
        latencies: Vec::with_capacity(a.leases),
        statuses: BTreeMap::new(),
        elapsed: Duration::ZERO,
    };
    for w in workers {
        let (got, l, s) = w
            .await
            .map_err(|e| CliError::negative(format!("a worker failed: {e}")))?;
        tokens.extend(got);
        grants.latencies.extend(l);
        for (k, v) in s {
            *grants.statuses.entry(k).or_default() += v;
        }
    }
    grants.elapsed = started.elapsed();
    grants.latencies.sort();

    // Phase 2: renew them, round robin, for the time asked.
    let tokens = Arc::new(tokens);
    let mut renewals = Phase {
        latencies: Vec::new(),
        statuses: BTreeMap::new(),
        elapsed: Duration::ZERO,
    };
    if a.seconds > 0 && !tokens.is_empty() {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let until = started + Duration::from_secs(a.seconds);
        let mut workers = Vec::new();
        for _ in 0..a.concurrency {
            let (client, next, tokens, url) = (
                client.clone(),
                next.clone(),
                tokens.clone(),
                format!("{base}/v1/leases/renew"),
            );
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
                while Instant::now() < until {
                    let i = next.fetch_add(1, Ordering::Relaxed) % tokens.len();
                    let t0 = Instant::now();
                    let status = match client
                        .post(&url)
                        .json(&json!({ "lease": tokens[i] }))
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let s = r.status();
                            let _ = r.bytes().await;
                            if s.is_success() {
                                latencies.push(t0.elapsed());
                            }
                            s.as_u16().to_string()
                        }
                        Err(e) if e.is_timeout() => "timeout".into(),
                        Err(_) => "connection-error".into(),
                    };
                    *statuses.entry(status).or_default() += 1;
                }
                (latencies, statuses)
            }));
        }
        for w in workers {
            let (l, s) = w
                .await
                .map_err(|e| CliError::negative(format!("a worker failed: {e}")))?;
            renewals.latencies.extend(l);
            for (k, v) in s {
                *renewals.statuses.entry(k).or_default() += v;
            }
        }
        renewals.elapsed = started.elapsed();
        renewals.latencies.sort();
    }

    if json_out {
        println!(
            "{}",
            json!({
                "licenses": licenses.len(), "leases": tokens.len(), "concurrency": a.concurrency,
                "grants": grants.report(), "renewals": renewals.report(),
            })
        );
    } else {
        let mut rows = vec![
            ("licenses".to_string(), licenses.len().to_string()),
            (
                "leases held".to_string(),
                format!("{} of {}", tokens.len(), a.leases),
            ),
            ("concurrency".to_string(), a.concurrency.to_string()),
            ("grants".to_string(), format!("{:.0}/s", grants.rate())),
            (
                "grant p50 / p99".to_string(),
                format!("{:.2} / {:.2} ms", grants.pct(0.5), grants.pct(0.99)),
            ),
            ("renewals".to_string(), format!("{:.0}/s", renewals.rate())),
            (
                "renewal p50 / p99 / max".to_string(),
                format!(
                    "{:.2} / {:.2} / {:.2} ms",
                    renewals.pct(0.5),
                    renewals.pct(0.99),
                    renewals.pct(1.0)
                ),
            ),
        ];
        for (phase, p) in [("grant", &grants), ("renewal", &renewals)] {
            for (s, n) in &p.statuses {
                rows.push((format!("{phase} answers {s}"), n.to_string()));
            }
        }
        print_table(&rows);
    }
    let failed = grants
        .statuses
        .iter()
        .chain(renewals.statuses.iter())
        .any(|(s, _)| s != "200");
    if failed {
        return Err(CliError::negative("some requests did not succeed"));
    }
    Ok(())
}
