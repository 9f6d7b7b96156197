//! What clients and support staff do with a license after it is issued: bind a License 1.0
//! license to a device (`/v1/activate`), fetch its newest revision (`/v1/refresh`), reissue it
//! for a replaced machine, revoke it, and publish the revocation list.

use crate::accounts::{Action, Principal};
use client_verifier::{
    Binding, BindingRequirement, Claims, Fingerprint, MatchPolicy, RevocationClaims, Timestamp,
    Verifier, danger, sign_revocations,
};
use serde_json::json;

use super::{Reason, must_get};
use super::{Service, ServiceError};
use crate::catalog::{BindingRule, DEFAULT_TRANSFERS_PER_YEAR};
use crate::license::{Activation, DeviceLicense, Kind, License, Status, Transfers, binding_salt};
use crate::store::{AuditEvent, Batch, DeviceKey, Tx};

/// A device's seat of a License 1.0 license, as `/v1/activate` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    /// The bound token.
    pub token: String,
    /// The seat number.
    pub seat: u32,
    /// The license revision it carries.
    pub revision: u32,
    /// Whether this call took the seat (false: the device already had it).
    pub new: bool,
}

/// The newest revision of a license, as `/v1/refresh` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    /// The token.
    pub token: String,
    /// Its revision.
    pub revision: u32,
    /// The license's state.
    pub status: Status,
}

/// What a reissue made: the license as committed, and its new token.
#[derive(Debug, Clone)]
pub struct Reissued {
    /// The license at its new revision.
    pub license: License,
    /// The new token (bound when a fingerprint was given).
    pub token: String,
}

impl Service {
    /// Checks that `token` is one of ours and returns its claims, whatever its dates and
    /// binding: a client refreshing an expired token is the point of refreshing. "Ours" is a
    /// signature by a trusted key and our issuer, and, for a key the root has revoked, a token
    /// licd minted: its digest recorded ([`crate::license::minted_key`]), or, for tokens
    /// minted before digests were recorded, one the store still holds for that license.
    pub(super) async fn open_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Claims, ServiceError> {
        let (claims, kid) = self.open_signed(token, now)?;
        if self.key_is_revoked(&kid) && !self.minted_here(token, &claims.jti).await? {
            tracing::warn!(key = %kid, license = %crate::logsafe::quoted(&claims.jti), "refused a token signed by a revoked key that this server did not mint");
            return Err(ServiceError::Invalid(format!(
                "license: signed by key {kid}, which the root has revoked, and not a token this server issued"
            )));
        }
        Ok(claims)
    }

    /// Whether licd minted `token` of license `id`.
    async fn minted_here(&self, token: &str, id: &str) -> Result<bool, ServiceError> {
        let store = self.store();
        if store.applied(&crate::license::minted_key(token)).await? {
            return Ok(true);
        }
        let Some(l) = store.license(id).await? else {
            return Ok(false);
        };
        let t = Some(token);
        Ok(l.issued_token.as_deref() == t
            || l.latest_token.as_deref() == t
            || store
                .activations(id)
                .await?
                .iter()
                .any(|a| a.token == token)
            || store
                .devices_for(id)
                .await?
                .iter()
                .any(|d| d.token == token))
    }

    /// [`Service::open_token`] for a token the store holds (licd minted it), with its key.
    pub(super) fn open_signed(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<(Claims, String), ServiceError> {
        match self.own_tokens().verify(token, None, now) {
            Ok(v) => Ok((v.claims().clone(), v.key_id().as_str().to_string())),
            Err(e) => Err(ServiceError::Invalid(format!("license: {e}"))),
        }
    }

    /// A verifier of what this server's keys signed for its issuer, bound or not, on any
    /// machine: for tokens and leases customers send back.
    pub(super) fn own_tokens(&self) -> Verifier {
        let mut builder = Verifier::builder()
            .issuer(self.settings.issuer.clone())
            .binding(BindingRequirement::Optional);
        for k in &self.trusted {
            builder = builder.trust(k.clone());
        }
        danger::skip_device_check(builder).build()
    }

    /// Whether a key the root has revoked signed `token` (one the store holds): such a token
    /// is minted again before it is handed out.
    pub(crate) fn signed_by_revoked_key(&self, token: &str) -> bool {
        !self.revoked_keys_empty()
            && client_verifier::paseto::footer_key_id(token)
                .is_some_and(|k| self.key_is_revoked(&k))
    }

    /// `/v1/activate`: binds the unbound License 1.0 token `token` to the device `fingerprint`.
    /// The same device (by the tolerant match the verifier uses) gets its seat back; another
    /// device takes a free seat, up to the license's quantity.
    pub async fn activate(
        &self,
        token: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<Seat, ServiceError> {
        let claims = self.open_token(token, now).await?;
        if claims.binding.is_some() {
            return Err(ServiceError::Invalid(
                "license: this token is already bound to a device; use /v1/refresh for its newest revision".into(),
            ));
        }
        let fp = Fingerprint::parse(fingerprint.trim())
            .map_err(|e| ServiceError::Invalid(format!("fingerprint: {e}")))?;
        check_public_fingerprint(&fp, self.settings.min_fingerprint_components)?;
        self.transact(async |s, tx| {
            let l = must_get(tx, &claims.jti).await?;
            check_bindable(&l, "/v1/activate")?;
            refuse_superseded(&l, &claims)?;
            let mut batch = Batch::default();
            let (seat, _) = s.take_seat(tx, &l, &fp, now, &mut batch).await?;
            Ok((batch, seat))
        })
        .await
    }

    /// The seat of `l` the device `fp` holds (by the tolerant match the verifier uses), its
    /// token reminted if the license moved on; or a free seat, up to the license's quantity.
    /// What changes goes into `batch`; the seat's record is returned with the answer.
    pub(super) async fn take_seat(
        &self,
        tx: &mut Tx,
        l: &License,
        fp: &Fingerprint,
        now: Timestamp,
        batch: &mut Batch,
    ) -> Result<(Seat, Activation), ServiceError> {
        let seats = tx.activations(&l.id).await?;
        let held = seats.iter().find(|a| {
            a.revoked.is_none()
                && Binding::decode(&a.binding)
                    .is_some_and(|b| b.check(fp, MatchPolicy::Tolerant).holds())
        });
        let (seat, new) = match held {
            Some(a) if a.revision == l.revision => (a.clone(), false),
            Some(a) => {
                let a = self.remint_seat(l, a, now)?;
                batch.activations.push(a.clone());
                (a, false)
            }
            None => {
                let transfer = self.admit_new_seat(l, &seats, now)?;
                let number = u32::try_from(seats.len()).unwrap_or(u32::MAX);
                let mut a = self.new_seat(l, number, fp, now)?;
                a.transfer = transfer;
                batch.audit.push(AuditEvent::new(
                    &l.id,
                    "activate",
                    "client",
                    now,
                    json!({ "seat": number, "of": l.quantity, "transfer": transfer }),
                ));
                batch.activations.push(a.clone());
                batch.stats.push((crate::store::activation_stat(now), 1));
                tracing::info!(license = %l.id, seat = number, "device activated");
                (a, true)
            }
        };
        let answer = Seat {
            token: seat.token.clone(),
            seat: seat.seat,
            revision: seat.revision,
            new,
        };
        Ok((answer, seat))
    }

    /// Whether one more seat of `l` (whose seats are `seats`) may be taken now: one is free and,
    /// when it is a transfer, the catalog allows another. Answers whether it is a transfer.
    pub(super) fn admit_new_seat(
        &self,
        l: &License,
        seats: &[Activation],
        now: Timestamp,
    ) -> Result<bool, ServiceError> {
        let live = seats.iter().filter(|a| a.revoked.is_none()).count();
        if live >= l.quantity as usize {
            return Err(ServiceError::SeatsTaken {
                license: l.id.clone(),
                quantity: l.quantity,
            });
        }
        let t = self.transfers(l, seats, now);
        if !t.may_take() {
            return Err(ServiceError::TransfersExhausted {
                license: l.id.clone(),
                used: t.used,
                limit: t.limit,
            });
        }
        Ok(t.next_is_transfer())
    }

    /// The transfers of `l` at `now`, against the catalog's limit for its product as it is now.
    pub(crate) fn transfers(&self, l: &License, seats: &[Activation], now: Timestamp) -> Transfers {
        let limit = self
            .catalog()
            .lookup(&l.product, &l.sku)
            .entry()
            .map_or(DEFAULT_TRANSFERS_PER_YEAR, |e| e.transfers_per_year);
        Transfers::count(seats, limit, now)
    }

    /// Seat `number` of `l`, bound to `fp`, with its token at the current revision.
    fn new_seat(
        &self,
        l: &License,
        number: u32,
        fp: &Fingerprint,
        now: Timestamp,
    ) -> Result<Activation, ServiceError> {
        let binding = Binding::new(fp, Activation::salt(&l.id, number));
        Ok(Activation {
            license_id: l.id.clone(),
            seat: number,
            binding: binding.encode(),
            token: l.mint(&self.issuer(), now, Some(binding))?,
            revision: l.revision,
            created: now,
            revoked: None,
            reported_day: None,
            device_key: None,
            transfer: false,
            deactivated: false,
        })
    }

    /// A seat's token minted again at the license's current revision (for the caller to store).
    pub(super) fn remint_seat(
        &self,
        l: &License,
        a: &Activation,
        now: Timestamp,
    ) -> Result<Activation, ServiceError> {
        let binding = Binding::decode(&a.binding).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "seat {} of {}: stored binding unreadable",
                a.seat, l.id
            ))
        })?;
        let mut a = a.clone();
        super::note_replaced(&a.token);
        a.token = l.mint(&self.issuer(), now, Some(binding))?;
        a.revision = l.revision;
        Ok(a)
    }

    /// `/v1/refresh`: the newest revision of the license `token` belongs to, for the same
    /// device binding. A released license or a revoked binding is [`ServiceError::Revoked`].
    pub async fn refresh(&self, token: &str, now: Timestamp) -> Result<Refreshed, ServiceError> {
        let claims = self.open_token(token, now).await?;
        if claims.jti.starts_with(crate::license::CODE_ID_PREFIX) {
            self.check_code_if_due(&claims.jti, now).await;
        }
        self.transact(async |s, tx| {
            let mut l = must_get(tx, &claims.jti).await?;
            let mut batch = Batch::default();
            // A catalog change reaches the license here, as a new revision.
            let catalog = s.catalog();
            let entry = catalog.lookup(&l.product, &l.sku).entry();
            if l.adopt_entry(entry, &s.issuer(), now)? {
                tracing::info!(license = %l.id, revision = l.revision, "the catalog changed for this product: new revision");
                batch.licenses.push(l.clone());
            }
            let revoked_binding = match &claims.binding {
                Some(b) => tx.is_revoked(&b.revocation_id(&l.id)).await?,
                None => false,
            };
            if l.status == Status::Released || revoked_binding {
                return Err(ServiceError::Revoked(l.id));
            }
            refuse_superseded(&l, &claims)?;
            if claims.binding.is_none() && l.binding == BindingRule::Required {
                return Err(ServiceError::Invalid(format!(
                    "license {}: this product's licenses work only bound to a device (binding = \"required\" in the catalog); activate it first with POST /v1/activate",
                    l.id
                )));
            }
            let token = match (&claims.binding, l.kind) {
                // A check-in of an unbound token: a fresh deadline, so a fresh token.
                (None, Kind::Classic | Kind::Code) if l.check_in_days > 0 => {
                    l.mint(&s.issuer(), now, None)?
                }
                // The root revoked the key that signed it: the same license, signed now.
                (None, Kind::Classic) if l.current_token().is_some_and(|t| s.signed_by_revoked_key(t)) => {
                    if let Some(old) = &l.latest_token {
                        super::note_replaced(old);
                    }
                    let token = l.mint(&s.issuer(), now, None)?;
                    l.latest_token = Some(token.clone());
                    batch.licenses.push(l.clone());
                    token
                }
                (None, Kind::Classic | Kind::Code) => {
                    l.current_token().unwrap_or_default().to_string()
                }
                (Some(b), Kind::Classic | Kind::Code) => {
                    let encoded = b.encode();
                    let seat = tx.activations(&l.id).await?
                        .into_iter()
                        .find(|a| a.binding == encoded);
                    let token = match &seat {
                        // A check-in: a fresh deadline, so a fresh token every time.
                        Some(_) if l.check_in_days > 0 => {
                            l.mint(&s.issuer(), now, Some(b.clone()))?
                        }
                        Some(a) if a.revision == l.revision && !s.signed_by_revoked_key(&a.token) => {
                            a.token.clone()
                        }
                        Some(a) => {
                            let a = s.remint_seat(&l, a, now)?;
                            batch.activations.push(a.clone());
                            a.token
                        }
                        None => l.mint(&s.issuer(), now, Some(b.clone()))?,
                    };
                    if let Some(a) = &seat
                        && l.kind == Kind::Code
                    {
                        s.note_usage(&l, a, now, &mut batch);
                    }
                    token
                }
                (binding, Kind::Online) => {
                    let mut scoped = l.clone();
                    if !l.validity_known() {
                        // The instance's expiry is still the placeholder of an order not read
                        // yet: what was sold to this device is the device license's validity,
                        // carried by the token presented (the first one in the chain is the
                        // device license; each refresh keeps its bounds).
                        scoped.nbf = claims.nbf;
                        scoped.exp = claims.exp.min(l.exp);
                    }
                    scoped.mint(&s.issuer(), now, binding.clone())?
                }
            };
            let refreshed = Refreshed {
                token,
                revision: l.revision,
                status: l.status,
            };
            Ok((batch, refreshed))
        })
        .await
    }

    /// Reissues license `id` as a new revision (a customer replaced the machine): every device
    /// binding it had is revoked and its seats freed; with `fingerprint`, the returned token is
    /// bound to that device (taking a seat), otherwise it is the unbound license to activate.
    /// `reason` is checked by [`Reason::REISSUE`].
    pub async fn reissue(
        &self,
        id: &str,
        fingerprint: Option<&str>,
        by: &Principal,
        reason: &str,
        now: Timestamp,
    ) -> Result<Reissued, ServiceError> {
        by.require(Action::Outbox)?;
        let actor = by.actor();
        let reason = Reason::check(reason, Reason::REISSUE, "the license is reissued")?;
        let reason = reason.as_str();
        let fp = match fingerprint.map(str::trim).filter(|f| !f.is_empty()) {
            Some(raw) => Some((
                raw.to_string(),
                Fingerprint::parse(raw)
                    .map_err(|e| ServiceError::Invalid(format!("fingerprint: {e}")))?,
            )),
            None => None,
        };
        self.transact(async |s, tx| {
            let mut l = must_get(tx, id).await?;
            if l.status == Status::Released {
                return Err(ServiceError::Revoked(l.id));
            }
            if l.kind == Kind::Online && fp.is_none() && s.settings.require_fingerprint {
                return Err(ServiceError::Invalid(format!(
                    "license {id} is device-bound (online activation): give the new machine's --fingerprint"
                )));
            }
            let mut batch = Batch::default();
            for mut a in tx.activations(&l.id).await? {
                if a.revoked.is_none() {
                    if let Some(b) = Binding::decode(&a.binding) {
                        batch.revocations.push((b.revocation_id(&l.id), now));
                    }
                    a.revoked = Some(now);
                    batch.activations.push(a);
                }
            }
            for d in tx.devices_for(&l.id).await? {
                if d.revoked.is_some() || d.fingerprint.is_empty() {
                    continue;
                }
                if let Ok(f) = Fingerprint::parse(&d.fingerprint) {
                    let b = Binding::new(&f, binding_salt(&l.id, &d.event_id));
                    batch.revocations.push((b.revocation_id(&l.id), now));
                }
                let key = DeviceKey {
                    license_id: d.license_id.clone(),
                    event_id: d.event_id.clone(),
                    fingerprint: d.fingerprint.clone(),
                };
                batch.devices.push((
                    key,
                    DeviceLicense {
                        revoked: Some(now),
                        ..d
                    },
                ));
            }
            // Every earlier token, bound or not, stops activating and refreshing: the old
            // unbound license of a replaced machine must not take the new seats. The new
            // revision carries the catalog as it is now.
            l.apply_entry(s.entry_for(&l.product, &l.sku, false).as_ref());
            l.reissue(&s.issuer(), now)?;
            let token = match (&fp, l.kind) {
                // A code has no license-wide token: its seats are free, and each device
                // activates the code again.
                (None, Kind::Code) => String::new(),
                (None, _) => match l.current_token() {
                    Some(t) => t.to_string(),
                    None => l.mint(&s.issuer(), now, None)?,
                },
                (Some((_, f)), Kind::Classic | Kind::Code) => {
                    let number =
                        u32::try_from(tx.activations(&l.id).await?.len()).unwrap_or(u32::MAX);
                    let a = s.new_seat(&l, number, f, now)?;
                    let t = a.token.clone();
                    batch.activations.push(a);
                    t
                }
                (Some((raw, f)), Kind::Online) => {
                    let event = format!("reissue-{}", l.revision);
                    let binding = Binding::new(f, binding_salt(&l.id, &event));
                    let token = l.mint(&s.issuer(), now, Some(binding))?;
                    batch.devices.push((
                        DeviceKey {
                            license_id: l.id.clone(),
                            event_id: event.clone(),
                            fingerprint: raw.clone(),
                        },
                        DeviceLicense {
                            license_id: l.id.clone(),
                            event_id: event,
                            fingerprint: raw.clone(),
                            token: token.clone(),
                            nbf: l.nbf,
                            exp: l.exp,
                            created: now,
                            revoked: None,
                        },
                    ));
                    token
                }
            };
            batch.audit.push(AuditEvent::new(
                &l.id,
                "reissue",
                actor,
                now,
                json!({
                    "reason": reason, "revision": l.revision,
                    "bindings_revoked": batch.revocations.len(), "bound": fp.is_some(),
                }),
            ));
            tracing::info!(license = %l.id, revision = l.revision, revoked = batch.revocations.len(), actor, "license reissued");
            batch.licenses.push(l.clone());
            Ok((batch, Reissued { license: l, token }))
        })
        .await
    }

    /// Frees seat `seat` of license `id` (the seller's decision: a machine given up, a support
    /// case). Its binding goes on the revocation list and the seat can be taken again; it is not
    /// a transfer. Freeing a free seat is refused.
    pub async fn free_seat(
        &self,
        id: &str,
        seat: u32,
        by: &Principal,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        by.require(Action::ServeCustomer)?;
        let actor = by.actor();
        self.transact(async |_, tx| {
            let l = must_get(tx, id).await?;
            let mut a = tx
                .activations(&l.id)
                .await?
                .into_iter()
                .find(|a| a.seat == seat)
                .ok_or_else(|| ServiceError::Invalid(format!("license {id} has no seat {seat}")))?;
            if a.revoked.is_some() {
                return Err(ServiceError::Invalid(format!(
                    "seat {seat} of license {id} is already free"
                )));
            }
            let mut batch = Batch::default();
            if let Some(b) = Binding::decode(&a.binding) {
                batch.revocations.push((b.revocation_id(&l.id), now));
            }
            a.revoked = Some(now);
            batch.activations.push(a);
            batch.audit.push(AuditEvent::new(
                &l.id,
                "free-seat",
                actor,
                now,
                json!({ "seat": seat }),
            ));
            tracing::info!(license = %l.id, seat, actor, "seat freed");
            Ok((batch, ()))
        })
        .await
    }

    /// Revokes license `id` for good (refund, fraud, a leaked token): it is released and goes on
    /// the revocation list. Repeated, it changes nothing.
    pub async fn revoke(
        &self,
        id: &str,
        by: &Principal,
        reason: &str,
        now: Timestamp,
    ) -> Result<License, ServiceError> {
        by.require(Action::Revoke)?;
        let actor = by.actor();
        let reason = Reason::check(reason, Reason::REVOKE, "the license is revoked")?;
        let reason = reason.as_str();
        self.transact(async |_, tx| {
            let mut l = must_get(tx, id).await?;
            let mut batch = Batch::default();
            if l.release(now) == crate::license::Change::Changed {
                batch.audit.push(AuditEvent::new(
                    &l.id,
                    "revoke",
                    actor,
                    now,
                    json!({ "reason": reason }),
                ));
                batch.licenses.push(l.clone());
                tracing::info!(license = %l.id, actor, reason = %crate::logsafe::quoted(reason), "license revoked");
            }
            Ok((batch, l))
        })
        .await
    }

    /// The current revocation list, signed: released licenses and revoked bindings, with a
    /// sequence number that grows with every entry.
    pub async fn revocation_list(&self, now: Timestamp) -> Result<(u64, String), ServiceError> {
        let (seq, entries) = self.store.revoked().await?;
        let list = RevocationClaims::new(self.settings.issuer.clone(), now, seq, entries);
        // Under a root, a list travels with the certificate when it grants lists; otherwise
        // it is signed as before (and applications that trust only the root refuse it: the
        // start warns about that certificate).
        let signed = match self.certificate.as_deref() {
            Some(cert)
                if cert
                    .grant()
                    .purposes
                    .contains(client_verifier::Purpose::RevocationLists) =>
            {
                client_verifier::sign_revocations_certified(&self.key, cert, &list)
                    .unwrap_or_else(|_| sign_revocations(&self.key, &list))
            }
            _ => sign_revocations(&self.key, &list),
        };
        Ok((seq, signed))
    }
}

/// Refuses to bind a seat of `l` through `how` (a route, a request) unless it is a License 1.0
/// license, not released, of a product whose licenses are bound to a device.
pub(super) fn check_bindable(l: &License, how: &str) -> Result<(), ServiceError> {
    let refused = match l.kind {
        Kind::Classic => None,
        Kind::Online => Some(format!(
            "license {}: online-activation licenses are bound by the marketplace (getLicenseAsync), not by {how}",
            l.id
        )),
        Kind::Code => Some(format!(
            "license {}: License 2.0 codes are activated with the marketplace through /v1/codes/activate, not by {how}",
            l.id
        )),
    };
    if let Some(message) = refused {
        return Err(ServiceError::Invalid(message));
    }
    if l.status == Status::Released {
        return Err(ServiceError::Revoked(l.id.clone()));
    }
    if l.binding == BindingRule::None {
        return Err(ServiceError::Invalid(format!(
            "license {}: this product's licenses are not bound to a device (binding = \"none\" in the catalog); use the license as it is",
            l.id
        )));
    }
    if l.floating.is_some() {
        return Err(ServiceError::Invalid(format!(
            "license {}: this product is floating (its seats are shared by leases); lease a seat with POST /v1/leases, or borrow one for offline use, not {how}",
            l.id
        )));
    }
    Ok(())
}

/// Refuses a token older than the license's last reissue.
pub(super) fn refuse_superseded(l: &License, claims: &Claims) -> Result<(), ServiceError> {
    if l.superseded(claims.revision) {
        return Err(ServiceError::Superseded {
            license: l.id.clone(),
            revision: claims.revision,
        });
    }
    Ok(())
}

/// A fingerprint strong enough for a binding made through the public API: one machine's (no more
/// mainboard values or disk serials than a machine has, see
/// [`Fingerprint::check_one_machine`]), with at least `min`
/// non-empty components of the four-part form, one of them the disk or the mainboard serial
/// (MAC addresses are set at will and CPU ids are shared by every machine of a model, so a
/// binding on those alone would follow a license to any machine). With `min` 0, opaque
/// fingerprints are admitted too.
pub(super) fn check_public_fingerprint(fp: &Fingerprint, min: u8) -> Result<(), ServiceError> {
    let Some(parts) = fp.parts() else {
        if min == 0 {
            return Ok(());
        }
        return Err(ServiceError::Invalid(
            "fingerprint: expected the four-part form MAC|disk|mainboard|CPU (client-verifier Fingerprint::collect), not an opaque value".into(),
        ));
    };
    fp.check_one_machine()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let present = parts.iter().filter(|v| !v.is_empty()).count();
    strong_enough(present, fp.identifies_machine(), min)
        .map_err(|m| ServiceError::Invalid(format!("fingerprint: {m}")))
}

/// The rule of [`check_public_fingerprint`] on what a binding shows of a fingerprint: `present`
/// non-empty components, `anchored` when the disk or mainboard serial is one of them.
pub(super) fn strong_enough(present: usize, anchored: bool, min: u8) -> Result<(), String> {
    if present < usize::from(min) {
        return Err(format!(
            "{present} of 4 components present, at least {min} needed (MAC|disk|mainboard|CPU, as Fingerprint::collect gives)"
        ));
    }
    if !anchored {
        return Err(
            "a disk or mainboard serial is needed; MAC addresses and CPU ids alone do not identify a machine".into(),
        );
    }
    Ok(())
}
