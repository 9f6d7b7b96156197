//! The durable outbox: calls licd owes the marketplace, kept until they succeed.
//!
//! A device license minted for `getLicenseAsync` must reach the marketplace through its upload
//! API, and an order must be read through its query API; both can fail (network, marketplace
//! maintenance, a wrong AK/SK) long after the callback was answered. Each such call is a [`Job`]
//! committed in the same store transaction as the change that needs it, so a crash can lose
//! neither. The [`Worker`] runs due jobs, retries failures with exponential backoff and jitter,
//! records every attempt in the audit log, and parks a job that keeps failing (or fails for good)
//! as dead, with the reason, for an operator to retry.
//!
//! Jobs are idempotent towards the marketplace: an upload sends the same characters for the same
//! event however often it runs, and an order query only reads. A finished job is removed; its
//! history stays in the audit log.

use std::sync::Arc;
use std::time::Duration;

use client_verifier::Timestamp;
use tokio::sync::Notify;

use crate::market_api::{MAX_USAGE_ITEMS, MarketplaceApi};
use crate::service::Service;
use crate::store::Due;

pub use crate::job::{Job, Task};

/// When to try again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay between attempts.
    pub cap: Duration,
    /// Attempts before a job is dead.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 5 s doubling to 15 min, 30 attempts: about six hours of trying, longer than any
    /// marketplace maintenance window the documentation mentions.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(15 * 60),
            max_attempts: 30,
        }
    }
}

impl RetryPolicy {
    /// The delay after `attempts` failed attempts, scaled by `jitter` in `[0.5, 1.0]` so that
    /// jobs failing together do not retry together.
    pub fn delay(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        exp.min(self.cap).mul_f64(jitter.clamp(0.5, 1.0))
    }
}

/// A jitter factor in `[0.5, 1.0]`.
pub(crate) fn jitter() -> f64 {
    let r = crate::crypto::random_bytes::<2>().map_or(0, u16::from_le_bytes);
    0.5 + f64::from(r) / f64::from(u16::MAX) / 2.0
}

/// Runs due jobs until shutdown.
#[derive(Debug)]
pub struct Worker {
    service: Arc<Service>,
    api: Option<MarketplaceApi>,
    wake: Arc<Notify>,
    policy: RetryPolicy,
}

/// How long the worker sleeps when nothing is due and nothing wakes it.
const IDLE: Duration = Duration::from_secs(30);

/// Due jobs one round takes at most; the rest go in the next round, a second later.
const ROUND_JOBS: usize = 1000;

impl Worker {
    /// A worker for `service`'s outbox; without `api`, jobs wait until one is configured.
    pub fn new(
        service: Arc<Service>,
        api: Option<MarketplaceApi>,
        wake: Arc<Notify>,
        policy: RetryPolicy,
    ) -> Self {
        Worker {
            service,
            api,
            wake,
            policy,
        }
    }

    /// Runs until the task is dropped or aborted.
    pub async fn run(self) {
        let mut warned_unconfigured = false;
        loop {
            let sleep = match self.round(&mut warned_unconfigured).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read pending jobs");
                    IDLE
                }
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Runs every due job once, up to [`IN_FLIGHT`] at a time; returns how long until the next
    /// one is due. A failure that says the marketplace is unreachable or overloaded (a retryable
    /// one) stops this round from starting more calls: the rest stay due and go out in the next
    /// round, so an outage costs one probe per round instead of a timeout per queued job.
    async fn round(
        &self,
        warned_unconfigured: &mut bool,
    ) -> Result<Duration, crate::store::StoreError> {
        let now = Timestamp::now();
        let Due {
            jobs: due,
            next: later,
        } = self.service.store().due_jobs(now, ROUND_JOBS).await?;
        let Some(api) = &self.api else {
            if !due.is_empty() && !*warned_unconfigured {
                tracing::warn!(
                    due = due.len(),
                    "outbox: calls to the marketplace are waiting, but its open API is not configured (--marketplace-ak, --marketplace-sk-file)"
                );
                *warned_unconfigured = true;
            }
            return Ok(IDLE);
        };
        let mut next = match later {
            Some(at) => {
                let wait = u64::try_from(at.unix() - now.unix()).unwrap_or(0);
                IDLE.min(Duration::from_secs(wait.max(1)))
            }
            None => IDLE,
        };
        let mut due = units(due).into_iter();
        let mut running = tokio::task::JoinSet::new();
        let mut outage = false;
        loop {
            while !outage && running.len() < IN_FLIGHT {
                let Some(unit) = due.next() else { break };
                // Several licd on one database: each makes only the calls it leased, just
                // before making them.
                let Some(unit) = self.lease(unit).await? else {
                    continue;
                };
                let api = api.clone();
                running.spawn(async move { attempt_unit(&api, unit).await });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let Ok(outcomes) = joined else {
                // A panicking attempt: the jobs stay as they were and are tried again.
                tracing::error!("outbox: an attempt panicked");
                continue;
            };
            let ids: Vec<String> = outcomes.iter().map(|(j, _)| j.id.clone()).collect();
            for (job, outcome) in outcomes {
                self.record(job, outcome, &mut outage, &mut next).await;
            }
            self.service.store().release_jobs(&ids).await;
        }
        if due.len() > 0 {
            tracing::info!(
                waiting = due.len(),
                next_round_secs = next.as_secs(),
                "outbox: the marketplace is failing; the other due calls wait for the next round"
            );
        }
        Ok(next)
    }

    /// The part of `unit` this process leased (none: another process is making the call).
    async fn lease(&self, unit: Unit) -> Result<Option<Unit>, crate::store::StoreError> {
        let store = self.service.store();
        Ok(match unit {
            Unit::One(job) => store.lease_jobs(vec![job]).await?.pop().map(Unit::One),
            Unit::Usage(jobs) => {
                let jobs = store.lease_jobs(jobs).await?;
                (!jobs.is_empty()).then_some(Unit::Usage(jobs))
            }
        })
    }

    /// Records one job's attempt: done, or failed with its next time (or dead).
    async fn record(
        &self,
        job: Job,
        outcome: Result<Option<crate::market_api::OrderInfo>, crate::market_api::CallError>,
        outage: &mut bool,
        next: &mut Duration,
    ) {
        let done_at = Timestamp::now();
        let result = match outcome {
            Ok(order) => self.service.job_succeeded(&job, order, done_at).await,
            Err(e) => {
                let mut j = job.clone();
                j.attempts += 1;
                j.note_failure(&e.to_string());
                if !e.retryable() || j.attempts >= self.policy.max_attempts {
                    j.dead = true;
                } else {
                    *outage = true;
                    let delay = self.policy.delay(j.attempts, jitter());
                    j.next_at = done_at.add_secs(i64::try_from(delay.as_secs()).unwrap_or(0));
                    *next = (*next).min(delay.max(Duration::from_secs(1)));
                }
                self.service.job_failed(j, done_at).await
            }
        };
        if let Err(e) = result {
            tracing::error!(job = %job.id, error = %e, "outbox: cannot record the attempt");
        }
    }
}

/// Calls made at once in a round.
const IN_FLIGHT: usize = 8;

/// One attempt at a job: the order read, for a query.
async fn attempt(
    api: &MarketplaceApi,
    job: &Job,
) -> Result<Option<crate::market_api::OrderInfo>, crate::market_api::CallError> {
    match &job.task {
        Task::Upload { event_id, token } => {
            api.upload_license(event_id, token).await.map(|()| None)
        }
        Task::QueryOrder { order, order_line } => {
            api.query_order(order, Some(order_line)).await.map(Some)
        }
        Task::Usage { code, client, .. } => api
            .report_usage(&[(code.clone(), client.clone())])
            .await
            .map(|()| None),
    }
}

/// What one call to the marketplace carries: one job, or up to [`MAX_USAGE_ITEMS`] usage
/// reports sent together (protocol §6.3 takes a batch; each job still succeeds or fails on its
/// own record).
enum Unit {
    One(Job),
    Usage(Vec<Job>),
}

/// The due jobs as calls: usage reports grouped, everything else one by one.
fn units(due: Vec<Job>) -> Vec<Unit> {
    let (usage, other): (Vec<Job>, Vec<Job>) = due
        .into_iter()
        .partition(|j| matches!(j.task, Task::Usage { .. }));
    let mut units: Vec<Unit> = other.into_iter().map(Unit::One).collect();
    let mut usage = usage.into_iter().peekable();
    while usage.peek().is_some() {
        units.push(Unit::Usage(usage.by_ref().take(MAX_USAGE_ITEMS).collect()));
    }
    units
}

/// One call for `unit`; the outcome is each job's.
async fn attempt_unit(
    api: &MarketplaceApi,
    unit: Unit,
) -> Vec<(
    Job,
    Result<Option<crate::market_api::OrderInfo>, crate::market_api::CallError>,
)> {
    match unit {
        Unit::One(job) => {
            let outcome = attempt(api, &job).await;
            vec![(job, outcome)]
        }
        Unit::Usage(jobs) => {
            let items: Vec<(String, String)> = jobs
                .iter()
                .filter_map(|j| match &j.task {
                    Task::Usage { code, client, .. } => Some((code.clone(), client.clone())),
                    _ => None,
                })
                .collect();
            let outcome = api.report_usage(&items).await.map(|()| None);
            jobs.into_iter().map(|j| (j, outcome.clone())).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reports_go_in_batches_of_at_most_100_and_other_jobs_alone() {
        let now = Timestamp::from_unix(1_700_000_000);
        let usage = |i: usize| {
            let task = Task::Usage {
                code: format!("C{i}"),
                client: format!("d{i}"),
                day: "20231114".into(),
            };
            Job::new(format!("us-{i}"), "lc-1", task, now)
        };
        let query = |i: usize| {
            let task = Task::QueryOrder {
                order: format!("O{i}"),
                order_line: "1".into(),
            };
            Job::new(format!("oq-{i}"), "i", task, now)
        };
        let mut due: Vec<Job> = (0..250).map(usage).collect();
        due.insert(7, query(1));
        due.push(query(2));
        let shape: Vec<(bool, usize)> = units(due)
            .iter()
            .map(|u| match u {
                Unit::One(j) => (false, usize::from(matches!(j.task, Task::Usage { .. }))),
                Unit::Usage(jobs) => (true, jobs.len()),
            })
            .collect();
        assert_eq!(
            shape,
            [(false, 0), (false, 0), (true, 100), (true, 100), (true, 50)]
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_only_shortens() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 1.0), Duration::from_secs(5));
        assert_eq!(p.delay(2, 1.0), Duration::from_secs(10));
        assert_eq!(p.delay(5, 1.0), Duration::from_secs(80));
        assert_eq!(p.delay(29, 1.0), Duration::from_secs(900));
        assert_eq!(p.delay(3, 0.5), Duration::from_secs(10));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(10), "clamped to half");
        for _ in 0..100 {
            let j = jitter();
            assert!((0.5..=1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn job_ids_are_stable_and_distinct() {
        assert_eq!(
            Job::upload_id("i", "e", "fp"),
            Job::upload_id("i", "e", "fp")
        );
        assert_ne!(
            Job::upload_id("i", "e", "fp"),
            Job::upload_id("i", "e", "fp2")
        );
        assert_ne!(
            Job::upload_id("i", "ef", "p"),
            Job::upload_id("i", "e", "fp")
        );
        assert!(Job::query_id("i", "o", "l").starts_with("oq-"));
    }
}
