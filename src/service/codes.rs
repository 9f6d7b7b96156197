//! License 2.0 activation codes (授权码): the marketplace's callbacks about a code, its
//! activation on a device through licd (licd holds the ISV's AK/SK, the software never does),
//! and the daily check.
//!
//! A code's record is created the first time licd hears of it: a renewal, freeze or release
//! callback may come before any software activated the code, and a paying customer's renewal
//! must never fail for that. What a callback says is recorded then; the activation's query, if it
//! is newer, has the last word (`License::apply_code_state`).

use client_verifier::{Fingerprint, Timestamp};
use serde_json::json;

use super::seats::Seat;
use super::{Caller, Service, ServiceError};
use crate::job::{Job, Task};
use crate::license::{Activation, CodeState, License, OnceKey, Status};
use crate::market_api::{CallError, CodeInfo};
use crate::marketplace::{InstanceStatus, LicenseCode, RefreshLicenseCode};
use crate::store::{Ahead, AuditEvent, Batch, OrderKey};

/// The longest code accepted (the marketplace's `license` field, protocol §5).
const MAX_CODE_CHARS: usize = 64;

/// The marketplace's "illegal state (do not re-activate)": the code is activated already.
const ALREADY_ACTIVATED: &str = "92020003";

/// A device's seat of a code, as `/v1/codes/activate` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSeat {
    /// The license id (the token's `jti`; not the code).
    pub license: String,
    /// The device-bound token.
    pub seat: Seat,
    /// The code's state.
    pub status: Status,
    /// Its expiry.
    pub exp: Timestamp,
}

impl Service {
    /// The id of code `code`'s license, creating its record (audited) on first sight.
    async fn code_license(
        &self,
        code: &LicenseCode,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<String, ServiceError> {
        let key = OrderKey::Code(code.expose().to_string());
        if let Some(id) = self.store.order(&key)? {
            return Ok(id);
        }
        let fresh = new_code_id()?;
        self.transact_ahead(Ahead::purchase(&key), |s| {
            if let Some(id) = s.store.order(&key)? {
                return Ok((Batch::default(), id));
            }
            let l = License::code(&fresh, code.expose(), caller.test, now);
            let event = s.event(
                &l,
                caller,
                now,
                json!({ "recorded_before_activation": true, "test": caller.test }),
            );
            tracing::info!(activity = caller.action, license = %fresh, "first callback about a code licd has not activated yet: recorded, applied when it is");
            let batch = Batch {
                licenses: vec![l],
                orders: vec![(key.clone(), fresh.clone())],
                audit: vec![event],
                ..Batch::default()
            };
            Ok((batch, fresh.clone()))
        })
        .await
    }

    /// `refreshLicenseCode`: the new absolute expiry (earlier for a refund), once per
    /// (code, order, order line, scene).
    pub async fn renew_code(
        &self,
        r: &RefreshLicenseCode,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let id = self.code_license(&r.code, caller, now).await?;
        let once = OnceKey::instance_renewal(&id, &r.order_id, &r.order_line_id, r.scene.as_str());
        self.renew_once(
            &id,
            &once,
            &r.order_id,
            r.expire_time,
            r.product_id.as_deref(),
            caller,
            now,
        )
        .await
    }

    /// `updateLicenseCodeStatus` FREEZE / UNFREEZE.
    pub async fn set_code_status(
        &self,
        code: &LicenseCode,
        status: InstanceStatus,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let id = self.code_license(code, caller, now).await?;
        match status {
            InstanceStatus::Freeze => self.freeze(&id, caller, now).await,
            InstanceStatus::Unfreeze => self.unfreeze(&id, caller, now).await,
        }
    }

    /// `releaseLicenseCode`: terminal; every token of the code is revoked.
    pub async fn release_code(
        &self,
        code: &LicenseCode,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let id = self.code_license(code, caller, now).await?;
        self.release(&id, caller, now).await
    }

    /// `POST /v1/codes/activate`: a device-bound token for code `code` on the device
    /// `fingerprint`.
    ///
    /// The first activation through licd activates the code with the marketplace and then
    /// queries it (the activation's expiry is only an estimate); only when both answered is
    /// anything recorded, so an outage leaves nothing half done and the retry starts over. The
    /// marketplace's "already activated" (`92020003`) on that retry, or for a code activated
    /// before this server knew it, is not the customer's error: licd reads the code's state and
    /// carries on. Later devices take free seats up to the code's quantity without asking the
    /// marketplace again; the same device gets its seat back.
    pub async fn activate_code(
        &self,
        code: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<CodeSeat, ServiceError> {
        let code = code.trim();
        if code.is_empty()
            || code.chars().count() > MAX_CODE_CHARS
            || code.chars().any(char::is_control)
        {
            return Err(ServiceError::Invalid(format!(
                "code: expected the activation code (1 to {MAX_CODE_CHARS} printable characters) shown with the purchase"
            )));
        }
        let fp = Fingerprint::parse(fingerprint.trim())
            .map_err(|e| ServiceError::Invalid(format!("fingerprint: {e}")))?;
        super::seats::check_public_fingerprint(&fp, self.settings.min_fingerprint_components)?;
        let key = OrderKey::Code(code.to_string());
        let known_id = self.store.order(&key)?;
        let known = match &known_id {
            Some(id) => self.store.license(id)?,
            None => None,
        };
        let state = match &known {
            Some(l) if l.activated.is_some() => None,
            _ => Some(self.activate_with_marketplace(code, now).await?),
        };
        let fresh = new_code_id()?;
        let ahead = match &known_id {
            Some(id) => Ahead::purchase(&key).and_license(id),
            None => Ahead::purchase(&key),
        };
        self.transact_ahead(ahead, |s| {
            let mut batch = Batch::default();
            let mut l = match s.store.order(&key)? {
                Some(id) => s.must_get(&id)?,
                None => {
                    batch.orders.push((key.clone(), fresh.clone()));
                    License::code(&fresh, code, false, now)
                }
            };
            if let Some(state) = &state
                && l.activated.is_none()
            {
                l.activated = Some(now);
                l.nbf = now.min(l.exp);
                l.apply_code_state(state, now, &s.issuer(), now)?;
                let entry = s.entry_for(&l.product, &l.sku, true);
                if state.quantity.is_none()
                    && let Some(seats) = entry.as_ref().and_then(|e| e.seats)
                {
                    l.quantity = seats;
                }
                l.apply_entry(entry.as_ref());
                batch.audit.push(AuditEvent::new(
                    &l.id,
                    "activateCode",
                    "client",
                    now,
                    json!({
                        "status": l.status.as_str(), "exp": l.exp.to_rfc3339(),
                        "quantity": l.quantity, "order": l.order,
                    }),
                ));
                tracing::info!(license = %l.id, status = l.status.as_str(), quantity = l.quantity, "code activated with the marketplace");
                batch.licenses.push(l.clone());
            }
            if l.status == Status::Released {
                // Recorded as released (if just learnt), and refused.
                return Ok((batch, Err(ServiceError::Revoked(l.id.clone()))));
            }
            let (seat, record) = s.take_seat(&l, &fp, now, &mut batch)?;
            s.note_usage(&l, &record, now, &mut batch);
            let answer = CodeSeat {
                license: l.id.clone(),
                seat,
                status: l.status,
                exp: l.exp,
            };
            Ok((batch, Ok(answer)))
        })
        .await?
    }

    /// Activates `code` with the marketplace and reads its true state.
    async fn activate_with_marketplace(
        &self,
        code: &str,
        now: Timestamp,
    ) -> Result<CodeState, ServiceError> {
        let api = self.api.as_ref().ok_or_else(|| {
            ServiceError::Unavailable(
                "License 2.0 codes cannot be activated: the marketplace open API is not configured (--marketplace-ak, --marketplace-sk-file)".into(),
            )
        })?;
        // A caller who guesses codes must not make licd call the marketplace, with the ISV's
        // credentials, as fast as it can send requests.
        let _permit = self.code_activations.try_acquire().map_err(|_| {
            tracing::warn!("code activations with the marketplace at their limit: answered busy");
            ServiceError::Unavailable(
                "too many code activations at once; nothing was changed, try again in a minute"
                    .into(),
            )
        })?;
        let estimate = match api.activate_code(code, now).await {
            Ok(info) => Some(info),
            Err(e) if e.code() == Some(ALREADY_ACTIVATED) => {
                tracing::warn!(
                    "the marketplace says the code is activated already (an earlier attempt whose answer was lost, or another server); reading its state"
                );
                None
            }
            Err(e) => return Err(code_call_error(e)),
        };
        let truth = api.query_code(code).await.map_err(code_call_error)?;
        let mut state = code_state(&truth);
        // The query is the truth; the activation answer fills in what it leaves out.
        if let Some(e) = estimate {
            state.exp = state.exp.or(e.expire_time);
            state.product = state.product.or(e.product_id);
            state.order = state.order.or(e.order_id);
            state.quantity = state.quantity.or(e.amount);
        }
        Ok(state)
    }

    /// The daily check of an activated code (`/v1/refresh`): at most one marketplace query per
    /// code per day, whatever the number of devices and servers asking. If the marketplace
    /// cannot be asked, the state last known stands and the next refresh tries again: a
    /// customer is never locked out by an outage.
    pub(super) async fn check_code_if_due(&self, id: &str, now: Timestamp) {
        let Some(api) = &self.api else { return };
        let cached = self.code_due.lock().ok().and_then(|d| d.get(id).copied());
        if cached.is_some_and(|due| now.unix() < due) {
            return;
        }
        let Ok(Some(l)) = self.store.license(id) else {
            return;
        };
        if !l.code_check_due(now, self.code_check_secs) {
            if let (Some(checked), Ok(mut due)) = (l.checked, self.code_due.lock()) {
                due.insert(id.to_string(), checked.unix() + self.code_check_secs);
            }
            return;
        }
        let Some(code) = l.code.clone() else { return };
        if !self
            .code_checks
            .lock()
            .is_ok_and(|mut c| c.insert(id.to_string()))
        {
            return; // another refresh of this code is asking right now
        }
        let result = api.query_code(&code).await;
        let applied = match result {
            Ok(info) => {
                let state = code_state(&info);
                self.transact_ahead(Ahead::license(id), |s| {
                    let mut l = s.must_get(id)?;
                    let before = l.status;
                    let changed = l.apply_code_state(&state, now, &s.issuer(), now)?;
                    let mut batch = Batch::default();
                    if changed {
                        batch.audit.push(AuditEvent::new(
                            &l.id,
                            "checkCode",
                            "licd",
                            now,
                            json!({
                                "status": l.status.as_str(), "was": before.as_str(),
                                "exp": l.exp.to_rfc3339(), "revision": l.revision,
                            }),
                        ));
                        tracing::info!(license = %l.id, status = l.status.as_str(), "daily check: the code's state changed");
                    }
                    batch.licenses.push(l);
                    Ok((batch, ()))
                })
                .await
            }
            Err(e) => {
                tracing::warn!(license = %id, error = %e, "daily check of a code failed; its last known state stands");
                Ok(())
            }
        };
        if let Err(e) = applied {
            tracing::error!(license = %id, error = %e, "cannot record the daily check of a code");
        }
        if let Ok(mut c) = self.code_checks.lock() {
            c.remove(id);
        }
        // Asked (or failed to ask): the next refresh reads the record again to find out when
        // the next check is due.
        if let Ok(mut due) = self.code_due.lock() {
            due.remove(id);
        }
    }
}

impl Service {
    /// The usage report owed for the seat `seat` of code license `l` today, unless it was made
    /// already: the seat's record and the outbox job go into `batch` (protocol §6.3 asks for a
    /// report on each client's first use of a day). Costs nothing after the first use of a day.
    pub(super) fn note_usage(
        &self,
        l: &License,
        seat: &Activation,
        now: Timestamp,
        batch: &mut Batch,
    ) {
        let day = now.unix().div_euclid(client_verifier::DAY);
        let Some(code) = &l.code else { return };
        if seat.reported_day == Some(day) {
            return;
        }
        // The seat may already be in the batch (just taken or reminted): update that copy.
        let mut a = match batch
            .activations
            .iter()
            .position(|a| a.license_id == seat.license_id && a.seat == seat.seat)
        {
            Some(i) => batch.activations.remove(i),
            None => seat.clone(),
        };
        a.reported_day = Some(day);
        let (y, m, d, ..) = now.to_civil();
        let day_text = format!("{y:04}{m:02}{d:02}");
        let client = a.client_id();
        batch.jobs.push(Job::new(
            Job::usage_id(&l.id, &client, &day_text),
            &l.id,
            Task::Usage {
                code: code.clone(),
                client,
                day: day_text,
            },
            now,
        ));
        batch.activations.push(a);
    }
}

/// How the id of a code's license starts: `/v1/refresh` runs the daily check only for these.
pub(super) const CODE_ID_PREFIX: &str = "lc-";

/// A license id for a new code: random, so that nothing about the code can be learnt from it.
fn new_code_id() -> Result<String, ServiceError> {
    let bytes = crate::crypto::random_bytes::<12>()
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    Ok(format!("{CODE_ID_PREFIX}{}", crate::crypto::hex(&bytes)))
}

fn code_state(info: &CodeInfo) -> CodeState {
    CodeState {
        status: CodeState::status_from(&info.status),
        exp: info.expire_time,
        product: info.product_id.clone(),
        order: info.order_id.clone(),
        quantity: info.amount,
    }
}

/// A failed code call as the client should see it: what a retry may fix is `Unavailable`
/// (503), what it cannot is a refusal naming the cause (protocol §6.4).
fn code_call_error(e: CallError) -> ServiceError {
    let refused = |kind, message: &str| ServiceError::CodeRefused {
        kind,
        message: message.to_string(),
    };
    match e.code() {
        Some("92020004") => refused(
            "not_delivered",
            "this activation code has not been delivered to the customer yet; try again once it shows in the marketplace under purchased resources",
        ),
        Some("92020005") => refused(
            "unknown_code",
            "no such activation code: check the code shown with the purchase",
        ),
        Some("92020011") => refused(
            "not_activated",
            "the marketplace has no activation of this code; activate it again",
        ),
        Some("92020002" | "92020020" | "95000001") => refused(
            "invalid_code",
            "the marketplace refused this activation code as malformed: check the code shown with the purchase",
        ),
        _ if e.retryable() => {
            tracing::warn!(error = %e, "marketplace unavailable for a code activation");
            ServiceError::Unavailable(
                "the marketplace cannot be reached to activate the code; nothing was changed, try again in a minute".into(),
            )
        }
        _ => {
            tracing::error!(error = %e, "the marketplace refused a code activation");
            refused(
                "refused",
                "the marketplace refused to activate this code; contact the seller",
            )
        }
    }
}
