//! Online activation's calls to the marketplace: reading what an order bought, and recording
//! the outcome of each outbox attempt.

use crate::accounts::{Action, Principal};
use std::time::Duration;

use client_verifier::Timestamp;
use serde_json::json;

use super::must_get;
use super::{Service, ServiceError};
use crate::job::{Job, Task};
use crate::license::Status;
use crate::market_api::OrderInfo;
use crate::store::{AuditEvent, Batch};

impl Service {
    /// Reads the order behind instance `id` (bounded by `budget`, so the callback still answers
    /// within the marketplace's 5 s) and applies it. When the marketplace cannot be asked now,
    /// the query goes to the outbox and is applied when it succeeds; the callback's answer does
    /// not depend on it.
    pub async fn sync_order(
        &self,
        id: &str,
        order: &str,
        order_line: &str,
        budget: Duration,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        if let Some(api) = &self.api {
            match tokio::time::timeout(budget, api.query_order(order, Some(order_line))).await {
                Ok(Ok(info)) => {
                    return self
                        .apply_order(id, order_line, &info, None, now, now)
                        .await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(instance = id, order, error = %e, "order query failed; retrying in the background");
                }
                Err(_) => {
                    tracing::warn!(
                        instance = id,
                        order,
                        budget_ms = budget.as_millis() as u64,
                        "order query too slow; retrying in the background"
                    );
                }
            }
        }
        let job = Job::new(
            Job::query_id(id, order, order_line),
            id,
            Task::QueryOrder {
                order: order.to_string(),
                order_line: order_line.to_string(),
            },
            now,
        );
        self.transact(async |_, _| {
            let batch = Batch {
                jobs: vec![job],
                ..Batch::default()
            };
            Ok((batch, ()))
        })
        .await
    }

    /// Applies what an order bought to its instance: customer, product, quota, whether it is
    /// periodic, and its end. The end only when no callback has stated one since the query was
    /// asked for (`requested`): the newest marketplace statement wins, so a query of a refunded
    /// renewal order, or a slow query of an old order, never undoes a later callback.
    async fn apply_order(
        &self,
        id: &str,
        order_line: &str,
        info: &OrderInfo,
        job_done: Option<&str>,
        requested: Timestamp,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.transact(async |s, tx| {
            let mut l = must_get(tx, id).await?;
            let line = info.line(order_line).or(info.lines.first());
            if l.status != Status::Released {
                if let Some(c) = info.customer_id.as_deref().filter(|c| !c.is_empty()) {
                    l.customer = c.to_string();
                }
                if info.customer_name.is_some() {
                    l.customer_name.clone_from(&info.customer_name);
                }
                if let Some(line) = line {
                    if let Some(p) = line.product_id.as_deref().filter(|p| !p.is_empty()) {
                        l.product = p.to_string();
                    }
                    if let Some(s) = line.sku_code.as_deref().filter(|s| !s.is_empty()) {
                        l.sku = s.to_string();
                    }
                    let entry = s.entry_for(&l.product, &l.sku, l.order_synced.is_none());
                    match line.quantity.filter(|&q| q > 0) {
                        Some(q) => l.quantity = q,
                        None => {
                            if let Some(seats) = entry.as_ref().and_then(|e| e.seats) {
                                l.quantity = seats;
                            }
                        }
                    }
                    // The instance has minted nothing of its own yet (device licenses are
                    // minted from it later), so the catalog applies as it is.
                    l.apply_entry(entry.as_ref());
                    l.periodic = line.charging_mode.eq_ignore_ascii_case("PERIOD");
                    if let Some(end) = line.expire_time
                        && l.query_may_set_expiry(requested)
                    {
                        l.exp = end;
                    }
                }
                l.order_synced = Some(now);
                l.updated = now;
            }
            let detail = json!({
                "order": info.order_id, "order_type": info.order_type,
                "quantity": l.quantity, "periodic": l.periodic, "exp": l.exp.to_rfc3339(),
                "line_found": line.is_some(),
            });
            let event = AuditEvent::new(&l.id, "queryOrder", "licd", now, detail);
            tracing::info!(instance = id, order = %info.order_id, quantity = l.quantity, periodic = l.periodic, "order applied");
            let batch = Batch {
                licenses: vec![l],
                audit: vec![event],
                jobs_done: job_done.map(str::to_string).into_iter().collect(),
                ..Batch::default()
            };
            Ok((batch, ()))
        })
        .await
    }

    /// Records a successful outbox attempt (applying the order it read, for a query) and
    /// removes the job.
    pub async fn job_succeeded(
        &self,
        job: &Job,
        order: Option<OrderInfo>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        if let (Task::QueryOrder { order_line, .. }, Some(info)) = (&job.task, &order) {
            return match self
                .apply_order(
                    &job.license_id,
                    order_line,
                    info,
                    Some(&job.id),
                    job.created,
                    now,
                )
                .await
            {
                // The instance is gone from the store (restored from an older backup): nothing
                // to apply the order to, and nothing to retry.
                Err(ServiceError::NotFound(_)) => self.drop_job(job, now).await,
                other => other,
            };
        }
        let detail = match &job.task {
            Task::Upload { event_id, .. } => json!({ "event": event_id }),
            Task::QueryOrder { order, .. } => json!({ "order": order }),
            Task::Usage { client, day, .. } => json!({ "client": client, "day": day }),
        };
        tracing::info!(job = %job.id, instance = %job.license_id, action = job.task.action(), attempts = job.attempts + 1, "delivered to the marketplace");
        self.record_job(job, "ok", detail, Some(&job.id), None, now)
            .await
    }

    async fn drop_job(&self, job: &Job, now: Timestamp) -> Result<(), ServiceError> {
        self.record_job(job, "dropped", json!({}), Some(&job.id), None, now)
            .await
    }

    /// Records a failed outbox attempt: the job (with its next time, or dead) and an audit
    /// event.
    pub async fn job_failed(&self, job: Job, now: Timestamp) -> Result<(), ServiceError> {
        let error = job.last_error.clone().unwrap_or_default();
        if job.dead {
            tracing::error!(job = %job.id, instance = %job.license_id, action = job.task.action(), attempts = job.attempts, error = %error, "gave up calling the marketplace; `licctl outbox retry` after fixing the cause");
        } else {
            tracing::warn!(job = %job.id, instance = %job.license_id, action = job.task.action(), attempts = job.attempts, next = %job.next_at, error = %error, "marketplace call failed; will retry");
        }
        let detail = json!({
            "attempt": job.attempts, "error": error, "dead": job.dead,
            "next": (!job.dead).then(|| job.next_at.to_rfc3339()),
        });
        let outcome = if job.dead { "dead" } else { "failed" };
        self.record_job(&job, outcome, detail, None, Some(job.clone()), now)
            .await
    }

    /// Revives a dead job (or hurries a pending one): due now, attempts reset. `actor` (who
    /// asked) goes into the audit event.
    pub async fn retry_job(
        &self,
        id: &str,
        by: &Principal,
        now: Timestamp,
    ) -> Result<Job, ServiceError> {
        by.require(Action::Outbox)?;
        let actor = by.actor();
        self.transact(async |_, tx| {
            let mut job = tx
                .job(id)
                .await?
                .ok_or_else(|| ServiceError::JobNotFound(id.to_string()))?;
            job.dead = false;
            job.attempts = 0;
            job.next_at = now;
            let action = format!("{}.retry", job.task.action());
            let event = AuditEvent::new(
                &job.license_id,
                &action,
                actor,
                now,
                json!({ "job": job.id }),
            );
            let batch = Batch {
                jobs: vec![job.clone()],
                audit: vec![event],
                ..Batch::default()
            };
            Ok((batch, job))
        })
        .await
    }

    async fn record_job(
        &self,
        job: &Job,
        outcome: &str,
        mut detail: serde_json::Value,
        done: Option<&str>,
        update: Option<Job>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        detail["job"] = json!(job.id);
        detail["outcome"] = json!(outcome);
        let event = AuditEvent::new(&job.license_id, job.task.action(), "licd", now, detail);
        self.transact(async |_, _| {
            let batch = Batch {
                audit: vec![event],
                jobs: update.into_iter().collect(),
                jobs_done: done.map(str::to_string).into_iter().collect(),
                ..Batch::default()
            };
            Ok((batch, ()))
        })
        .await
    }
}
