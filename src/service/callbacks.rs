//! A verified marketplace callback applied: which operation each activity is, and what it
//! answers. The HTTP layer only verifies, calls [`Service::apply_callback`] and writes the
//! answer; every decision about a callback is made here.

use std::time::Duration;

use client_verifier::Timestamp;

use serde_json::json;

use super::{Caller, DeviceRequest, NewPurchase, Service, ServiceError};
use crate::marketplace::{Callback, InstanceStatus};
use crate::store::{AuditEvent, Batch, StoreError};

/// What a callback that succeeded answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `getLicense`: the instance id and the license string.
    Issued {
        /// The instance (license) id.
        instance: String,
        /// The license string.
        license: String,
    },
    /// `newInstance`: the instance id.
    Created {
        /// The instance id.
        instance: String,
    },
    /// `getLicenseAsync`: the device license is minted and goes out through the upload API.
    Processing,
    /// `queryInstance`: every instance asked about exists.
    Instances(Vec<String>),
    /// Anything else that succeeded (repeats and stale calls included).
    Done,
}

/// How long a callback waits for the order query before leaving it to the outbox: the
/// marketplace's budget for an answer is 5 s.
const ORDER_QUERY_BUDGET: Duration = Duration::from_millis(2500);

impl Service {
    /// Applies one verified, parsed callback. `signed_at` is the time the marketplace signed it
    /// with: a state change older than the newest one applied is stale.
    ///
    /// A dial test (`testFlag=1`) never fails for a state reason (released, unknown, quota,
    /// validity): the marketplace replays its saved test cases twice a day in any order, and
    /// failing ones count against the listing. Such a call answers success, changes nothing
    /// and is audited. Bad input and storage failures still fail.
    pub async fn apply_callback(
        &self,
        cb: Callback,
        signed_at: Option<crate::license::SignedTime>,
        now: Timestamp,
    ) -> Result<Outcome, ServiceError> {
        let caller = Caller {
            action: cb.activity(),
            test: cb.test_flag(),
            signed_at,
        };
        let instance = cb.instance_id().map(str::to_string);
        let code = cb.code().cloned();
        match self.apply(cb, caller, now).await {
            Err(e) if caller.test && e.is_state_refusal() => {
                // A code's license is found through the code (its id is not on the wire).
                let instance = match (instance, code) {
                    (Some(id), _) => id,
                    (None, Some(code)) => self
                        .store
                        .order(&crate::store::OrderKey::Code(code.expose().to_string()))
                        .await?
                        .unwrap_or_default(),
                    (None, None) => String::new(),
                };
                tracing::info!(activity = caller.action, instance = %instance, refused = %e, "test call (testFlag=1) answered success without a change");
                let detail = json!({ "test": true, "absorbed": e.to_string() });
                let event = AuditEvent::new(&instance, caller.action, caller.actor(), now, detail);
                self.transact(async |_, _| {
                    let batch = Batch {
                        audit: vec![event],
                        ..Batch::default()
                    };
                    Ok((batch, ()))
                })
                .await?;
                Ok(Outcome::Done)
            }
            other => other,
        }
    }

    async fn apply(
        &self,
        cb: Callback,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<Outcome, ServiceError> {
        Ok(match cb {
            Callback::GetLicense(g) => {
                let amount_sent = g.quantity.is_some();
                let mut purchase = NewPurchase::from(g);
                // No `amount`: the catalog's seats for the product, if it names them.
                if !amount_sent {
                    let catalog = self.catalog();
                    if let Some(seats) = catalog
                        .lookup(&purchase.product, &purchase.sku)
                        .entry()
                        .and_then(|e| e.seats)
                    {
                        purchase.quantity = seats;
                    }
                }
                let (instance, license) = self.issue_classic(purchase, caller, now).await?;
                Outcome::Issued { instance, license }
            }
            Callback::RefreshLicense(r) => {
                self.renew(
                    &r.instance_id,
                    &r.order_id,
                    r.expire_time,
                    r.product_id.as_deref(),
                    caller,
                    now,
                )
                .await?;
                Outcome::Done
            }
            Callback::ExpireLicense(e) => {
                self.freeze(&e.instance_id, caller, now).await?;
                Outcome::Done
            }
            Callback::ReleaseLicense(r) => {
                self.release(&r.instance_id, caller, now).await?;
                Outcome::Done
            }
            Callback::NewInstance(n) => {
                let instance = self
                    .create_instance(&n.order_id, &n.order_line_id, &n.business_id, caller, now)
                    .await?;
                // What was bought (customer, quota, validity) comes from the order query; a
                // failure there is retried in the background, not by the marketplace.
                self.sync_order_in_time(&instance, &n.order_id, &n.order_line_id, now)
                    .await;
                Outcome::Created { instance }
            }
            Callback::RefreshInstance(r) => {
                self.renew_instance(&r, caller, now).await?;
                self.sync_order_in_time(&r.instance_id, &r.order_id, &r.order_line_id, now)
                    .await;
                Outcome::Done
            }
            Callback::UpdateInstanceStatus(u) => {
                match u.status {
                    InstanceStatus::Freeze => self.freeze(&u.instance_id, caller, now).await?,
                    InstanceStatus::Unfreeze => self.unfreeze(&u.instance_id, caller, now).await?,
                }
                Outcome::Done
            }
            Callback::ReleaseInstance(r) => {
                self.release(&r.instance_id, caller, now).await?;
                Outcome::Done
            }
            Callback::GetLicenseAsync(g) => {
                let request = DeviceRequest {
                    instance: g.instance_id,
                    event: g.event_id,
                    fingerprint: g.device_fingerprint,
                    nbf: g.effective_time,
                    exp: g.expire_time,
                };
                self.device_license(request, caller, now).await?;
                Outcome::Processing
            }
            Callback::QueryInstance(q) => {
                for id in &q.instance_ids {
                    if self.store.license(id).await?.is_none() {
                        return Err(ServiceError::NotFound(id.clone()));
                    }
                }
                Outcome::Instances(q.instance_ids)
            }
            Callback::RefreshLicenseCode(r) => {
                self.renew_code(&r, caller, now).await?;
                Outcome::Done
            }
            Callback::UpdateLicenseCodeStatus(u) => {
                self.set_code_status(&u.code, u.status, caller, now).await?;
                Outcome::Done
            }
            Callback::ReleaseLicenseCode(r) => {
                self.release_code(&r.code, caller, now).await?;
                Outcome::Done
            }
            Callback::UpgradeInstance(u) => {
                self.upgrade(&u, caller, now).await?;
                // The new quantity, SKU and validity come from the upgrade order, like a
                // purchase's from its order.
                self.sync_order_in_time(&u.instance_id, &u.order_id, &u.order_line_id, now)
                    .await;
                Outcome::Done
            }
        })
    }

    /// Records a V2 callback's nonce until `until`; false if it was seen before (a replay).
    pub async fn remember_nonce(&self, nonce: &str, until: Timestamp) -> Result<bool, StoreError> {
        self.store.remember_nonce(nonce, until).await
    }

    /// The order query after `newInstance` or `refreshInstance`, within the callback's budget;
    /// whatever it cannot finish in time goes to the outbox. The callback's answer does not
    /// depend on it.
    async fn sync_order_in_time(&self, id: &str, order: &str, line: &str, now: Timestamp) {
        if let Err(e) = self
            .sync_order(id, order, line, ORDER_QUERY_BUDGET, now)
            .await
        {
            // The instance is created and acknowledged either way; the order is read again when
            // the marketplace renews it, or by an operator.
            tracing::error!(instance = id, order, error = %e, "cannot record the order query");
        }
    }
}
