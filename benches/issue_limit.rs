//! The in-process limit of a durable issue: what `licd serve` does for one `getLicense`
//! (authToken HMAC check, parse, token signing, one atomic store commit and a flushed write),
//! without HTTP, at concurrency 32. `licctl marketplace load` measures the same work through
//! the daemon; BENCHMARKS.md sets the two side by side.
//!
//! Run: cargo bench --bench issue_limit [-- REQUESTS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use client_verifier::{SecretKey, Timestamp};
use licd::marketplace::{AccessKey, Callback, parse_v1, sign_v1_query, verify_v1};
use licd::service::{Caller, NewPurchase, Service, Settings};
use licd::store::{SledStore, Store};

const CONCURRENCY: usize = 32;

fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path(), 64 << 20).unwrap());
        let key = Arc::new(SecretKey::generate().unwrap());
        let service = Arc::new(Service::new(
            store,
            key,
            Settings {
                issuer: "bench".into(),
                freeze_days: 15,
                require_fingerprint: true,
                min_fingerprint_components: 3,
            },
        ));
        let access = Arc::new(AccessKey::new("bench-access-key"));
        // Queries are signed beforehand: signing is the marketplace's work, not ours.
        let queries: Vec<String> = (0..requests)
            .map(|i| {
                let order = format!("BENCH-{i}");
                let business = format!("b-{i}");
                let params = [
                    ("activity", "getLicense"),
                    ("customerId", "cust-1"),
                    ("businessId", business.as_str()),
                    ("orderId", order.as_str()),
                    ("productId", "OFFI-BENCH"),
                    ("skuCode", "sku"),
                    ("expireTime", "20991231000000"),
                    ("testFlag", "1"),
                ];
                sign_v1_query(&access, &params, Timestamp::now())
            })
            .collect();
        let queries = Arc::new(queries);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (service, access, queries, next) = (
                service.clone(),
                access.clone(),
                queries.clone(),
                next.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(q) = queries.get(i) else { break };
                    let t0 = Instant::now();
                    let now = Timestamp::now();
                    let params = verify_v1(&access, q, now, Some(86_400)).unwrap();
                    let Callback::GetLicense(g) = parse_v1(&params).unwrap() else {
                        unreachable!()
                    };
                    let caller = Caller {
                        action: "getLicense",
                        test: true,
                        signed_at: None,
                    };
                    service
                        .issue_classic(NewPurchase::from(g), caller, now)
                        .await
                        .unwrap();
                    lat.push(t0.elapsed());
                }
                lat
            }));
        }
        let mut lat: Vec<Duration> = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
        println!("in-process durable issue, concurrency {CONCURRENCY}, {requests} requests");
        println!(
            "throughput  {:.0} issues/s",
            lat.len() as f64 / elapsed.as_secs_f64()
        );
        println!("p50         {:.2} ms", pct(0.5).as_secs_f64() * 1000.0);
        println!("p99         {:.2} ms", pct(0.99).as_secs_f64() * 1000.0);
        println!("max         {:.2} ms", pct(1.0).as_secs_f64() * 1000.0);
    });
}
