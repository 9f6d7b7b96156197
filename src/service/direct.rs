//! Licenses the ISV issues itself: evaluations for a prospect, a deal closed outside the
//! marketplace, a replacement for a customer whose order is stuck. The token is a License 1.0
//! token like any other (activation, seats, refresh, revocation, the portal all apply) with
//! `origin` in its claims and `direct-<id>` as its order; only the ISV extends it, and no
//! marketplace callback can touch it (`Service::mutate`).

use crate::accounts::{Action, Principal};
use client_verifier::Timestamp;
use serde_json::json;

use super::{Reason, Service, ServiceError, must_get};
use crate::catalog::Lookup;
use crate::license::{DIRECT_ID_PREFIX, License, NewDirect, PERPETUAL};
use crate::store::{AuditEvent, Batch};

/// The longest customer id, product id or SKU accepted (they go into every token).
const MAX_ID_CHARS: usize = 128;
/// The longest customer name or note accepted.
const MAX_TEXT_CHARS: usize = 500;

impl Reason {
    /// Extending a license the ISV issued is routine sales work: a reason is recorded when
    /// given.
    pub const EXTEND: super::Need = super::Need::Optional;
}

/// `text` as the field `what`: trimmed, one line, at most `max` characters; empty only when
/// `optional`.
fn field(what: &str, text: &str, max: usize, optional: bool) -> Result<String, ServiceError> {
    let text = text.trim();
    if text.is_empty() && !optional {
        return Err(ServiceError::Invalid(format!("{what}: required")));
    }
    if text.chars().count() > max {
        return Err(ServiceError::Invalid(format!(
            "{what}: at most {max} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(format!(
            "{what}: one line of text, without control characters"
        )));
    }
    Ok(text.to_string())
}

impl Service {
    /// Issues a license the ISV sells itself (`POST /admin/v1/licenses`): checked, given the
    /// catalog's terms for its product and SKU, minted, audited as `createDirect` by `actor`.
    /// When a catalog is configured the product must be listed in it: a typo would otherwise
    /// issue a license for a product that does not exist, with the default entitlements.
    pub async fn create_direct(
        &self,
        d: NewDirect,
        by: &Principal,
        now: Timestamp,
    ) -> Result<License, ServiceError> {
        by.require(Action::IssueDirect)?;
        let actor = by.actor();
        let d = NewDirect {
            customer: field("customer", &d.customer, MAX_ID_CHARS, false)?,
            customer_name: d
                .customer_name
                .map(|n| field("customer_name", &n, MAX_TEXT_CHARS, true))
                .transpose()?
                .filter(|n| !n.is_empty()),
            product: field("product", &d.product, MAX_ID_CHARS, false)?,
            sku: field("sku", &d.sku, MAX_ID_CHARS, true)?,
            note: d
                .note
                .map(|n| field("note", &n, MAX_TEXT_CHARS, true))
                .transpose()?
                .filter(|n| !n.is_empty()),
            ..d
        };
        if d.exp <= now || d.exp > PERPETUAL {
            return Err(ServiceError::Invalid(format!(
                "the license would end {}: give a time after now",
                d.exp
            )));
        }
        let catalog = self.catalog();
        let entry = match catalog.lookup(&d.product, &d.sku) {
            Lookup::Listed(e) => Some(e.clone()),
            _ if catalog.is_configured() => {
                return Err(ServiceError::Invalid(format!(
                    "product {} (sku {}) is not in the catalog: issue licenses for products it lists (licctl products list)",
                    crate::logsafe::quoted(&d.product),
                    crate::logsafe::quoted(&d.sku)
                )));
            }
            other => other.entry().cloned(),
        };
        let seats = d
            .seats
            .or(entry.as_ref().and_then(|e| e.seats))
            .unwrap_or(1);
        if seats == 0 || seats > 100_000 {
            return Err(ServiceError::Invalid("seats: 1 to 100000".into()));
        }
        let d = NewDirect {
            seats: Some(seats),
            ..d
        };
        let id = format!(
            "{DIRECT_ID_PREFIX}{}",
            crate::crypto::hex(&self.fresh_id_bytes()?)
        );
        let license = self
            .transact(async |s, tx| {
                if tx.license(&id).await?.is_some() {
                    return Err(ServiceError::Invalid(format!(
                        "license id {id} is taken; try again"
                    )));
                }
                let mut l = License::direct(&id, &d, now);
                l.apply_entry(entry.as_ref());
                l.issued_token = Some(l.mint(&s.issuer(), now, None)?);
                let origin = l.direct.as_ref().map(|x| x.origin());
                let event = AuditEvent::new(
                    &l.id,
                    "createDirect",
                    actor,
                    now,
                    json!({
                        "order": l.order, "origin": origin, "customer": l.customer,
                        "product": l.product, "sku": l.sku, "seats": l.quantity,
                        "exp": l.exp.to_rfc3339(), "revision": 1, "note": d.note,
                    }),
                );
                let batch = Batch {
                    licenses: vec![l.clone()],
                    audit: vec![event],
                    ..Batch::default()
                };
                Ok((batch, l))
            })
            .await?;
        tracing::info!(license = %license.id, actor = %crate::logsafe::quoted(actor), trial = d.trial, "license issued directly");
        Ok(license)
    }

    /// Extends a license the ISV issued to `exp` (`POST /admin/v1/licenses/{id}/extend`),
    /// converting a trial to a paid license unless `still_trial`; refused for a license the
    /// marketplace sold. Returns the license with its new token.
    pub async fn extend_direct(
        &self,
        id: &str,
        exp: Timestamp,
        still_trial: bool,
        by: &Principal,
        reason: &str,
        now: Timestamp,
    ) -> Result<License, ServiceError> {
        by.require(Action::IssueDirect)?;
        let actor = by.actor();
        let reason = Reason::check(reason, Reason::EXTEND, "the license is extended")?;
        if exp <= now || exp > PERPETUAL {
            return Err(ServiceError::Invalid(format!(
                "the license would end {exp}: give a time after now"
            )));
        }
        self.transact(async |s, tx| {
            let mut l = must_get(tx, id).await?;
            let was = l.direct.as_ref().map(|d| d.origin());
            l.extend(exp, still_trial, &s.issuer(), now)?;
            let event = AuditEvent::new(
                &l.id,
                "extend",
                actor,
                now,
                json!({
                    "exp": l.exp.to_rfc3339(), "revision": l.revision, "was": was,
                    "origin": l.direct.as_ref().map(|d| d.origin()),
                    "reason": reason.as_str(),
                }),
            );
            Ok((
                Batch {
                    licenses: vec![l.clone()],
                    audit: vec![event],
                    ..Batch::default()
                },
                l,
            ))
        })
        .await
    }
}
