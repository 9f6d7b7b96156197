//! What follows the root's revocation of an issuing key: every live token that key signed for
//! a license is signed again by the key signing now, so that customers hold tokens their
//! applications still accept once they load the root's statement.
//!
//! The statement itself is the root's (`licctl root revoke-key`, offline); licd loads it
//! (`licd keys revocations`), serves it with its revocation list and, from then on, honours a
//! token of that key only when it minted it ([`Service::open_token`]). This module re-signs.

use crate::accounts::{Action, Principal};
use client_verifier::{Binding, Fingerprint, Timestamp};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use super::{Reason, Service, ServiceError, must_get, note_replaced};
use crate::job::{Job, Task};
use crate::license::{DeviceLicense, Kind, Status, binding_salt};
use crate::store::{AuditEvent, Batch, DeviceKey};

/// Licenses read per page while looking for what a revoked key signed.
const PAGE: usize = 500;
/// Licenses re-signed at once.
const AT_ONCE: usize = 16;

/// What `keys revoke` re-signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resigned {
    /// The revoked key.
    pub kid: String,
    /// The key that signed the new tokens.
    pub signing_kid: String,
    /// Licenses whose current token was signed again.
    pub licenses: u64,
    /// Seats (License 1.0 and codes) whose token was signed again.
    pub seats: u64,
    /// Device licenses signed again, each queued for upload to the marketplace.
    pub devices: u64,
    /// Licenses looked at.
    pub scanned: u64,
}

impl Service {
    /// `licctl keys revoke KID`: signs again, with the current key, every live token the
    /// revoked key `kid` signed (a license's current token, its seats', its device licenses',
    /// which go to the marketplace again through the outbox). Refused unless the root's
    /// statement that licd loaded revokes `kid`: licd cannot revoke a key by itself, since
    /// applications would still accept it. Running it again re-signs nothing twice. Reads every
    /// license once; only those with a token of `kid` are written.
    pub async fn resign_revoked_key(
        &self,
        kid: &str,
        by: &Principal,
        reason: &str,
        now: Timestamp,
    ) -> Result<Resigned, ServiceError> {
        by.require(Action::Administer)?;
        let actor = by.actor();
        let reason = Reason::check(reason, Reason::REVOKE, "the key is revoked")?;
        let kid = kid.trim();
        let signing = self.signing_key_id();
        let shown = crate::logsafe::quoted_max(kid, 80);
        if kid == signing {
            return Err(ServiceError::Invalid(format!(
                "key {shown} is this server's signing key: certify another key (licctl root certify, licd keys certify), activate it (licd keys activate), restart, then revoke this one"
            )));
        }
        if !self.key_is_revoked(kid) {
            return Err(ServiceError::Invalid(format!(
                "the root has not revoked key {shown} (not in the key revocations this server loaded): sign the statement with `licctl root revoke-key --kid KID`, load it on every node with `licd keys revocations FILE`, restart, then run this again"
            )));
        }
        let mut done = Resigned {
            kid: kid.to_string(),
            signing_kid: signing,
            ..Resigned::default()
        };
        let mut after: Option<String> = None;
        loop {
            let page = self.store().licenses_page(after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let mut due = Vec::new();
            for l in page {
                done.scanned += 1;
                if l.status != Status::Released && self.signed_anything(&l, kid).await? {
                    due.push(l.id);
                }
            }
            // Several steps at once share the store's flushes (group commit); each is its own
            // transaction, so a failure leaves every license either re-signed or as it was.
            let reason = reason.as_str();
            let signed: Vec<(bool, u64, u64)> = futures_util::stream::iter(due)
                .map(|id| async move { self.resign_license(&id, kid, actor, reason, now).await })
                .buffer_unordered(AT_ONCE)
                .try_collect()
                .await?;
            for (license, seats, devices) in signed {
                done.licenses += u64::from(license);
                done.seats += seats;
                done.devices += devices;
            }
        }
        tracing::warn!(
            key = %kid,
            signing = %done.signing_kid,
            licenses = done.licenses,
            seats = done.seats,
            devices = done.devices,
            "tokens of a revoked key signed again"
        );
        Ok(done)
    }

    /// Whether `kid` signed a live token of `l` (read outside a step: most licenses have none,
    /// and a step costs a flush; the step reads again before it writes).
    async fn signed_anything(
        &self,
        l: &crate::license::License,
        kid: &str,
    ) -> Result<bool, ServiceError> {
        let by_kid =
            |token: &str| client_verifier::paseto::footer_key_id(token).is_some_and(|k| k == kid);
        if l.current_token().is_some_and(by_kid) {
            return Ok(true);
        }
        let store = self.store();
        Ok(store
            .activations(&l.id)
            .await?
            .iter()
            .any(|a| a.revoked.is_none() && by_kid(&a.token))
            || store
                .devices_for(&l.id)
                .await?
                .iter()
                .any(|d| d.revoked.is_none() && by_kid(&d.token)))
    }

    /// Signs again what `kid` signed of license `id`, in one step: (license token re-signed,
    /// seats, device licenses).
    async fn resign_license(
        &self,
        id: &str,
        kid: &str,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(bool, u64, u64), ServiceError> {
        let by_kid =
            |token: &str| client_verifier::paseto::footer_key_id(token).is_some_and(|k| k == kid);
        self.transact(async |s, tx| {
            let mut l = must_get(tx, id).await?;
            let mut batch = Batch::default();
            if l.status == Status::Released {
                return Ok((batch, (false, 0, 0)));
            }
            // Each token replaced here is recorded first: a customer may still hold it, and it
            // may predate the records.
            let license = l.kind == Kind::Classic && l.current_token().is_some_and(by_kid);
            if license {
                if let Some(old) = &l.latest_token {
                    note_replaced(old);
                }
                l.latest_token = Some(l.mint(&s.issuer(), now, None)?);
                batch.licenses.push(l.clone());
            }
            let mut seats = 0;
            for a in tx.activations(id).await? {
                if a.revoked.is_none() && by_kid(&a.token) {
                    batch.activations.push(s.remint_seat(&l, &a, now)?);
                    seats += 1;
                }
            }
            let mut devices = 0;
            for d in tx.devices_for(id).await? {
                if d.revoked.is_some() || !by_kid(&d.token) {
                    continue;
                }
                let binding = if d.fingerprint.is_empty() {
                    None
                } else {
                    let fp = Fingerprint::parse(&d.fingerprint).map_err(|e| {
                        ServiceError::Invalid(format!(
                            "device license {} of {id}: stored fingerprint unreadable: {e}",
                            d.event_id
                        ))
                    })?;
                    Some(Binding::new(
                        &fp.one_machine(),
                        binding_salt(id, &d.event_id),
                    ))
                };
                let mut scoped = l.clone();
                scoped.nbf = d.nbf;
                scoped.exp = d.exp;
                let token = scoped.mint(&s.issuer(), now, binding)?;
                let job_id = Job::upload_id(id, &d.event_id, &d.fingerprint);
                let task = Task::Upload {
                    event_id: d.event_id.clone(),
                    token: token.clone(),
                };
                batch.jobs.push(Job::new(job_id, id, task, now));
                note_replaced(&d.token);
                let key = DeviceKey {
                    license_id: d.license_id.clone(),
                    event_id: d.event_id.clone(),
                    fingerprint: d.fingerprint.clone(),
                };
                batch.devices.push((key, DeviceLicense { token, ..d }));
                devices += 1;
            }
            if license || seats > 0 || devices > 0 {
                batch.audit.push(AuditEvent::new(
                    id,
                    "resignRevokedKey",
                    actor,
                    now,
                    json!({
                        "kid": kid, "signing_kid": s.signing_key_id(), "reason": reason,
                        "license": license, "seats": seats, "devices": devices,
                    }),
                ));
            }
            Ok((batch, (license, seats, devices)))
        })
        .await
    }

    /// The id of the key this server signs with.
    pub fn signing_key_id(&self) -> String {
        self.issuer().key.public_key().id().as_str().to_string()
    }
}
