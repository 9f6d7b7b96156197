//! The outbox worker against the fake marketplace: many due jobs go out a few at a time, and a
//! marketplace that is failing costs one batch of attempts per round, not a timeout per job.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use client_verifier::{SecretKey, Timestamp};
use common::fake_market::FakeMarket;
use licd::market_api::{ApiConfig, MarketplaceApi};
use licd::outbox::{Job, RetryPolicy, Task, Worker};
use licd::service::{Service, Settings};
use licd::store::{Batch, Store};
use zeroize::Zeroizing;

const JOBS: usize = 20;

fn api(market: &FakeMarket) -> MarketplaceApi {
    MarketplaceApi::new(ApiConfig {
        base_urls: vec![market.url()],
        ak: market.ak().to_string(),
        sk: Zeroizing::new(market.sk().to_string()),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_marketplace_stops_the_round_and_every_job_is_delivered_later() {
    let market = FakeMarket::start();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = common::pg::test_store(dir.path()).await;
    let service = Arc::new(Service::new(
        store.clone(),
        Arc::new(SecretKey::from_seed(&[3; 32])),
        Settings {
            issuer: "acme".into(),
            freeze_days: 15,
            require_fingerprint: true,
            min_fingerprint_components: 3,
        },
    ));
    // Twenty uploads owed, all due now (as after a restart that follows an outage).
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..JOBS)
        .map(|i| {
            let event = format!("EV-{i:02}");
            let task = Task::Upload {
                event_id: event.clone(),
                token: format!("v4.public.token-for-{event}"),
            };
            Job::new(Job::upload_id("inst-1", &event, "fp"), "inst-1", task, now)
        })
        .collect();
    store
        .commit(Batch {
            jobs,
            ..Batch::default()
        })
        .await
        .unwrap();

    // The marketplace fails the first eight calls: a whole first batch.
    market.fail_next_uploads(8);
    let worker = tokio::spawn(
        Worker::new(
            service.clone(),
            Some(api(&market)),
            service.outbox_wake(),
            RetryPolicy {
                base: Duration::from_secs(1),
                ..RetryPolicy::default()
            },
        )
        .run(),
    );
    let attempted = async || {
        let jobs = store.jobs().await.unwrap();
        jobs.iter().filter(|j| j.attempts > 0).count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while attempted().await != 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for the first batch to fail"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The round stopped there: no ninth call while the marketplace was failing (the next
    // round is a second away).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(market.requests(), 8);
    assert!(market.uploads().is_empty());

    // The next round (a second later) delivers all twenty, each exactly once.
    wait_until("every upload", Duration::from_secs(20), || {
        market.uploads().len() == JOBS
    });
    let mut events: Vec<String> = market.uploads().into_iter().map(|u| u.event_id).collect();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), JOBS);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !store.jobs().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for the outbox to empty"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(market.requests(), 8 + JOBS);
    worker.abort();
}
