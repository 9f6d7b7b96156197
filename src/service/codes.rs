//! License 2.0 activation codes (授权码): the marketplace's callbacks about a code, its
//! activation on a device through licd (licd holds the ISV's AK/SK, the software never does),
//! and the daily check.
//!
//! A code's record is created the first time licd hears of it: a renewal, freeze or release
//! callback may come before any software activated the code, and a paying customer's renewal
//! must never fail for that. What a callback says is recorded then; the activation's query, if it
//! is newer, has the last word (`License::apply_code_state`).

use crate::accounts::{Action, Principal};
use std::net::IpAddr;
use std::sync::Arc;

use client_verifier::{Fingerprint, Timestamp};
use serde_json::json;

use super::must_get;
use super::seats::Seat;
use super::{Caller, Service, ServiceError};
use crate::job::{Job, Task};
use crate::license::{Activation, CODE_ID_PREFIX, CodeAnswer, CodeState, License, OnceKey, Status};
use crate::market_api::{CallError, CodeInfo};
use crate::marketplace::{InstanceStatus, LicenseCode, RefreshLicenseCode};
use crate::store::{AuditEvent, Batch, OrderKey, Tx};

/// The longest code accepted (the marketplace's `license` field, protocol §5).
const MAX_CODE_CHARS: usize = 64;

/// The marketplace's "illegal state (do not re-activate)": the code is activated already.
const ALREADY_ACTIVATED: &str = "92020003";

/// How long a node may hold a code's activation claim: longer than an activation and a query
/// take with their retries (10 s an attempt, two hosts each), short enough that a node that
/// died holding it stalls that code's first activation for no longer.
const CLAIM_SECS: i64 = 120;

/// How long a device waits for another device's first activation of the same code before it
/// is answered busy.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The product, order and quantity of a code, entered by the ISV when the marketplace's answer
/// was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRepair {
    /// The marketplace `productId`.
    pub product: String,
    /// The order id; may be left out when licd knows it already.
    pub order: Option<String>,
    /// How many devices may use the code.
    pub quantity: u32,
}

/// The key of a claim in the store ([`crate::store::Store::claim`]).
struct ClaimKey(String);

impl ClaimKey {
    /// The claim on code `code`'s first activation. The code is a bearer secret: only its hash
    /// is stored in the key.
    fn code_activation(code: &str) -> Self {
        use sha2::{Digest, Sha256};
        ClaimKey(format!(
            "claim:code:{}",
            crate::crypto::hex(&Sha256::digest(code.as_bytes()))
        ))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

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

/// What a code is used for once activated ([`Service::use_code`]).
pub(super) enum CodeUse<'a> {
    /// A seat for this device (`/v1/codes/activate`).
    Seat(&'a Fingerprint),
    /// A lease of a floating product's seat (`/v1/leases {code}`).
    Lease(&'a super::leases::LeaseAsk),
}

/// What using a code gave.
pub(super) enum CodeUsed {
    /// A device's seat.
    Seat(CodeSeat),
    /// A lease record (to sign) of the license, decided at that time; whether it is new.
    Lease(Box<License>, crate::license::lease::Lease, Timestamp, bool),
}

/// `code` as typed, checked: printable, not empty, bounded.
pub(super) fn check_code(code: &str) -> Result<&str, ServiceError> {
    let code = code.trim();
    if code.is_empty()
        || code.chars().count() > MAX_CODE_CHARS
        || code.chars().any(char::is_control)
    {
        return Err(ServiceError::Invalid(format!(
            "code: expected the activation code (1 to {MAX_CODE_CHARS} printable characters) shown with the purchase"
        )));
    }
    Ok(code)
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
        if let Some(id) = self.store.order(&key).await? {
            return Ok(id);
        }
        let fresh = self.new_code_id()?;
        self.transact(async |s, tx| {
            if let Some(id) = tx.order(&key).await? {
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
    /// `fingerprint`, asked for by `client`.
    ///
    /// The first activation through licd activates the code with the marketplace and then
    /// queries it. Only the activation's answer states the code's product, order and quantity
    /// (the query carries none, protocol §6.2), so:
    /// - one activation at a time per code, on every node (a claim in the database): devices
    ///   activating a new code together make one activation with the marketplace, and the
    ///   others wait for it briefly, then are answered busy;
    /// - the answer is kept the moment it arrives, before the query, so a failed query or a
    ///   crash loses nothing and the retry carries on from it;
    /// - a code license is never recorded or minted without product, order and quantity: when
    ///   the answer was lost (the marketplace says "already activated", `92020003`, and licd
    ///   kept none), the device is answered `503` and the ISV is told to enter them
    ///   (`licctl codes repair`).
    ///
    /// What calls the marketplace is limited per client address and in total, before any call.
    /// Later devices take free seats up to the code's quantity without asking the marketplace;
    /// the same device gets its seat back.
    pub async fn activate_code(
        &self,
        code: &str,
        fingerprint: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> Result<CodeSeat, ServiceError> {
        let code = check_code(code)?;
        let fp = Fingerprint::parse(fingerprint.trim())
            .map_err(|e| ServiceError::Invalid(format!("fingerprint: {e}")))?;
        super::seats::check_public_fingerprint(&fp, self.settings.min_fingerprint_components)?;
        match self.use_code(code, CodeUse::Seat(&fp), client, now).await? {
            CodeUsed::Seat(seat) => Ok(seat),
            CodeUsed::Lease(..) => Err(ServiceError::Unavailable("internal error: a code activated for a seat answered with a lease; nothing was taken, try again and report it to the seller".into())),
        }
    }

    /// Activates code `code` with the marketplace unless licd already did (through the gate,
    /// the claim and the per-address budget that keep it to one call), then uses it as `use_`
    /// says, in the step that records the activation.
    pub(super) async fn use_code(
        &self,
        code: &str,
        use_: CodeUse<'_>,
        client: IpAddr,
        now: Timestamp,
    ) -> Result<CodeUsed, ServiceError> {
        let key = OrderKey::Code(code.to_string());
        if self.activated_code(&key).await?.is_some() {
            return self.code_seat(code, None, &use_, now).await;
        }
        if self.store.order(&key).await?.is_none()
            && self.is_case_variant_of_a_known_code(code).await?
        {
            return Err(case_variant());
        }
        // Devices on this node activating the same new code take turns: the first asks the
        // marketplace, the others find it activated (and cost no marketplace call, nor any of
        // their address's budget, nor a database write).
        let claim = ClaimKey::code_activation(code);
        let gate = self.code_gate(&claim);
        let turn = tokio::time::timeout(CLAIM_WAIT, gate.clone().lock_owned()).await;
        let result = match turn {
            Ok(_turn) => {
                self.activate_code_in_turn(code, &key, &claim, &use_, client, now)
                    .await
            }
            Err(_) => Err(busy_activating()),
        };
        self.drop_code_gate(&claim, gate);
        result
    }

    /// [`Service::activate_code`] once this node's turn for the code came.
    async fn activate_code_in_turn(
        &self,
        code: &str,
        key: &OrderKey,
        claim: &ClaimKey,
        fp: &CodeUse<'_>,
        client: IpAddr,
        now: Timestamp,
    ) -> Result<CodeUsed, ServiceError> {
        if self.activated_code(key).await?.is_some() {
            return self.code_seat(code, None, fp, now).await;
        }
        if let Err(wait) = self.code_limits.check(client) {
            return Err(ServiceError::TooManyRequests {
                message: format!(
                    "too many activations of new codes from this address; nothing was changed, try again in {wait} s"
                ),
                retry_after: wait,
            });
        }
        let until = now.add_secs(CLAIM_SECS);
        if !self.store.claim(claim.as_str(), until, now).await? {
            // Another node is activating this code right now.
            return match self.wait_for_activation(key).await? {
                true => self.code_seat(code, None, fp, now).await,
                false => Err(busy_activating()),
            };
        }
        let result = async {
            // Another node may have finished between our look and our claim.
            if self.activated_code(key).await?.is_some() {
                return self.code_seat(code, None, fp, now).await;
            }
            let state = self.activate_with_marketplace(code, key, now).await?;
            self.code_seat(code, Some(&state), fp, now).await
        }
        .await;
        if let Err(e) = self.store.release_claim(claim.as_str(), until).await {
            tracing::warn!(error = %e, "cannot let go of a code's activation claim; it expires by itself");
        }
        result
    }

    /// Code `code`'s record (its index key `key`), or a new one with id `fresh` whose index
    /// entry goes into `batch`.
    async fn code_record(
        &self,
        tx: &mut Tx,
        key: &OrderKey,
        code: &str,
        fresh: &str,
        now: Timestamp,
        batch: &mut Batch,
    ) -> Result<License, ServiceError> {
        Ok(match tx.order(key).await? {
            Some(id) => must_get(tx, &id).await?,
            None => {
                batch.orders.push((key.clone(), fresh.to_string()));
                License::code(fresh, code, false, now)
            }
        })
    }

    /// The turn-taking lock of this node's activations of one code.
    fn code_gate(&self, claim: &ClaimKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self
            .code_gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        gates.entry(claim.as_str().to_string()).or_default().clone()
    }

    /// Forgets a code's lock once nobody but the map holds it (so the map holds only codes
    /// being activated right now).
    fn drop_code_gate(&self, claim: &ClaimKey, gate: Arc<tokio::sync::Mutex<()>>) {
        drop(gate);
        let mut gates = self
            .code_gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if gates
            .get(claim.as_str())
            .is_some_and(|g| Arc::strong_count(g) == 1)
        {
            gates.remove(claim.as_str());
        }
    }

    /// Whether `code` is unknown but differs only in letter case from a code licd knows (as
    /// typed, or all upper or all lower case). Codes are keyed by their exact spelling, and the
    /// marketplace's documents do not say whether it matches them regardless of case: if it
    /// did, each spelling would otherwise become a license of its own with fresh seats.
    async fn is_case_variant_of_a_known_code(&self, code: &str) -> Result<bool, ServiceError> {
        for other in [code.to_ascii_uppercase(), code.to_ascii_lowercase()] {
            if other != code && self.store.order(&OrderKey::Code(other)).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The license of code `key` if it is activated.
    async fn activated_code(&self, key: &OrderKey) -> Result<Option<License>, ServiceError> {
        let Some(id) = self.store.order(key).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .license(&id)
            .await?
            .filter(|l| l.activated.is_some()))
    }

    /// Waits up to [`CLAIM_WAIT`] for another device's first activation of code `key` to be
    /// recorded; whether it was.
    async fn wait_for_activation(&self, key: &OrderKey) -> Result<bool, ServiceError> {
        let step = std::time::Duration::from_millis(100);
        let mut waited = std::time::Duration::ZERO;
        while waited < CLAIM_WAIT {
            tokio::time::sleep(step).await;
            waited += step;
            if self.activated_code(key).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The seat of the device `fp` on code `code`'s license; first, when `state` is given and
    /// the license is not activated yet, records the activation with it. Refuses to record or
    /// mint a license whose product, order or quantity is unknown.
    async fn code_seat(
        &self,
        code: &str,
        state: Option<&CodeState>,
        use_: &CodeUse<'_>,
        now: Timestamp,
    ) -> Result<CodeUsed, ServiceError> {
        let fresh = self.new_code_id()?;
        let key = &OrderKey::Code(code.to_string());
        self.transact(async |s, tx| {
            let mut batch = Batch::default();
            let mut l = s.code_record(tx, key, code, &fresh, now, &mut batch).await?;
            if let Some(state) = state
                && l.activated.is_none()
            {
                let seats_of = |product: &str| {
                    s.entry_for(product, &l.sku, false)
                        .and_then(|e| e.seats)
                };
                let missing = state.missing(state.product.as_deref().and_then(seats_of));
                if !missing.is_empty() {
                    return Ok((
                        Batch::default(),
                        Err(incomplete(&l.id, &missing)),
                    ));
                }
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
                        "quantity": l.quantity, "order": l.order, "product": l.product,
                    }),
                ));
                tracing::info!(license = %l.id, status = l.status.as_str(), quantity = l.quantity, "code activated with the marketplace");
                batch.licenses.push(l.clone());
            }
            if l.activated.is_none() {
                // Not activated and nothing to activate it with: only reached when a claim
                // holder's activation failed between our look and this step.
                return Ok((
                    Batch::default(),
                    Err(ServiceError::Busy {
                        message: "this code's activation with the marketplace did not finish; nothing was changed, try again in a few seconds".into(),
                        retry_after: 2,
                    }),
                ));
            }
            if l.status == Status::Released {
                // Recorded as released (if just learnt), and refused.
                return Ok((batch, Err(ServiceError::Revoked(l.id.clone()))));
            }
            let fp = match use_ {
                CodeUse::Lease(ask) => {
                    // The activation (if this step records it) is kept whatever the lease's fate.
                    return Ok(match s.lease_in_step(tx, &mut l, ask, &mut batch).await {
                        Ok((record, at, new)) => (
                            batch,
                            Ok(CodeUsed::Lease(Box::new(l), record, at, new)),
                        ),
                        Err(e) => (batch, Err(e)),
                    });
                }
                CodeUse::Seat(fp) => fp,
            };
            if l.floating.is_some() {
                return Ok((
                    batch,
                    Err(ServiceError::Invalid(format!(
                        "license {}: this product is floating (its seats are shared by leases); lease a seat with POST /v1/leases {{\"code\", \"instance\", \"fingerprint\"}}",
                        l.id
                    ))),
                ));
            }
            let (seat, record) = s.take_seat(tx, &l, fp, now, &mut batch).await?;
            s.note_usage(&l, &record, now, &mut batch);
            let answer = CodeSeat {
                license: l.id.clone(),
                seat,
                status: l.status,
                exp: l.exp,
            };
            Ok((batch, Ok(CodeUsed::Seat(answer))))
        })
        .await?
    }

    /// Activates `code` (whose order key is `key`) with the marketplace and reads its true
    /// state. The activation's answer is kept before the query is sent; an answer kept by an
    /// earlier attempt is used instead of activating again.
    async fn activate_with_marketplace(
        &self,
        code: &str,
        key: &OrderKey,
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
            if let Some(suppressed) = self.client_log.admit(std::time::Instant::now()) {
                tracing::warn!(
                    suppressed,
                    "code activations with the marketplace at their limit: answered busy"
                );
            }
            ServiceError::Busy {
                message:
                    "too many code activations at once; nothing was changed, try again in a minute"
                        .into(),
                retry_after: 30,
            }
        })?;
        let kept = match self.store.order(key).await? {
            Some(id) => self.store.license(&id).await?.and_then(|l| l.code_answer),
            None => None,
        };
        let answer = match kept {
            Some(a) => Some(a),
            None => match api.activate_code(code, now).await {
                Ok(info) => {
                    let a = CodeAnswer {
                        product: info.product_id,
                        order: info.order_id,
                        quantity: info.amount,
                        exp: info.expire_time,
                        at: now,
                        source: "marketplace".into(),
                    };
                    self.keep_code_answer(code, key, a.clone(), "client", now)
                        .await?;
                    Some(a)
                }
                Err(e) if e.code() == Some(ALREADY_ACTIVATED) => {
                    if let Some(suppressed) = self.client_log.admit(std::time::Instant::now()) {
                        tracing::warn!(
                            suppressed,
                            "the marketplace says the code is activated already and licd kept no answer (an earlier attempt whose answer was lost, or another server); reading its state"
                        );
                    }
                    None
                }
                Err(e) => return Err(self.code_call_error(code, e)),
            },
        };
        let truth = api
            .query_code(code)
            .await
            .map_err(|e| self.code_call_error(code, e))?;
        // Activated already, and the marketplace spells the code otherwise: it matched this
        // spelling to another one, whose license (and seats) this must not duplicate.
        if answer.is_none()
            && truth
                .license_code
                .as_deref()
                .is_some_and(|spelled| spelled != code && spelled.eq_ignore_ascii_case(code))
        {
            return Err(case_variant());
        }
        let mut state = code_state(&truth);
        // The query is the truth; the activation answer fills in what it leaves out.
        if let Some(a) = &answer {
            state.fill_from(a);
        }
        Ok(state)
    }

    /// Keeps what a code activation's answer (or an admin's repair, `actor`) stated on the
    /// code's record, creating the record if licd has not heard of the code before.
    async fn keep_code_answer(
        &self,
        code: &str,
        key: &OrderKey,
        answer: CodeAnswer,
        actor: &str,
        now: Timestamp,
    ) -> Result<License, ServiceError> {
        let fresh = self.new_code_id()?;
        self.transact(async |s, tx| {
            let mut batch = Batch::default();
            let mut l = s
                .code_record(tx, key, code, &fresh, now, &mut batch)
                .await?;
            batch.audit.push(AuditEvent::new(
                &l.id,
                "codeAnswer",
                actor,
                now,
                json!({
                    "product": answer.product, "order": answer.order,
                    "quantity": answer.quantity, "source": answer.source,
                }),
            ));
            l.code_answer = Some(answer.clone());
            l.updated = now;
            batch.licenses.push(l.clone());
            Ok((batch, l))
        })
        .await
    }

    /// [`Service::repair_code`] for the code of license `id` (the console names licenses by id;
    /// the code never reaches a URL).
    pub async fn repair_code_license(
        &self,
        id: &str,
        repair: CodeRepair,
        by: &Principal,
        now: Timestamp,
    ) -> Result<License, ServiceError> {
        by.require(Action::ServeCustomer)?;
        let l = self
            .store
            .license(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.to_string()))?;
        let Some(code) = l.code else {
            return Err(ServiceError::Invalid(format!(
                "license {id} is not a License 2.0 code"
            )));
        };
        self.repair_code(&code, repair, by, now).await
    }

    /// `licctl codes repair`: the product, order and quantity of a code whose activation answer
    /// was lost, entered by `actor` from the marketplace's records (the Seller Console's order).
    /// Before the code is activated, they stand in for the answer; after (a license recorded
    /// without them by an older licd), they are applied and the license reminted. Audited.
    pub async fn repair_code(
        &self,
        code: &str,
        repair: CodeRepair,
        by: &Principal,
        now: Timestamp,
    ) -> Result<License, ServiceError> {
        by.require(Action::ServeCustomer)?;
        let actor = by.actor();
        let code = code.trim();
        if repair.product.trim().is_empty() || repair.quantity == 0 {
            return Err(ServiceError::Invalid(
                "a repair needs the product id and a quantity of at least 1".into(),
            ));
        }
        let key = OrderKey::Code(code.to_string());
        // A code whose answer was lost before licd kept it has no record yet: the repair makes
        // one, as the answer would have.
        let known = match self.store.order(&key).await? {
            Some(id) => self.store.license(&id).await?,
            None => None,
        };
        let l = known.unwrap_or_else(|| License::code("", code, false, now));
        let answer = CodeAnswer {
            product: Some(repair.product.trim().to_string()),
            order: repair
                .order
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .or_else(|| l.code_answer.as_ref().and_then(|a| a.order.clone()))
                .or_else(|| (!l.order.is_empty()).then(|| l.order.clone())),
            quantity: Some(repair.quantity),
            exp: None,
            at: now,
            source: format!("repair by {actor}"),
        };
        if answer.order.is_none() {
            return Err(ServiceError::Invalid(
                "this code's order id is not known either: pass it (--order) from the Seller Console".into(),
            ));
        }
        if l.activated.is_none() {
            return self.keep_code_answer(code, &key, answer, actor, now).await;
        }
        let id = l.id;
        self.transact(async |s, tx| {
            let mut l = must_get(tx, &id).await?;
            let entry = answer
                .product
                .as_deref()
                .and_then(|p| s.entry_for(p, &l.sku, true));
            l.repair_code_purchase(answer.clone(), entry.as_ref(), &s.issuer(), now)?;
            let mut batch = Batch::default();
            batch.audit.push(AuditEvent::new(
                &l.id,
                "repairCode",
                actor,
                now,
                json!({ "product": l.product, "order": l.order, "quantity": l.quantity, "revision": l.revision }),
            ));
            tracing::info!(license = %l.id, actor = %crate::logsafe::quoted(actor), "code license repaired");
            batch.licenses.push(l.clone());
            Ok((batch, l))
        })
        .await
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
        let Ok(Some(l)) = self.store.license(id).await else {
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
                self.transact(async |s, tx| {
                    let mut l = must_get(tx, id).await?;
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
                let error = crate::logsafe::redact(&e.to_string(), &code);
                tracing::warn!(license = %id, error = %error, "daily check of a code failed; its last known state stands");
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

impl Service {
    /// A license id for a new code: random, so that nothing about the code can be learnt from
    /// it.
    fn new_code_id(&self) -> Result<String, ServiceError> {
        let bytes = self.fresh_id_bytes()?;
        Ok(format!("{CODE_ID_PREFIX}{}", crate::crypto::hex(&bytes)))
    }
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

impl Service {
    /// A failed code call as the client should see it (see [`code_refusal`]), logged through the
    /// limiter on lines clients cause.
    fn code_call_error(&self, code: &str, e: CallError) -> ServiceError {
        let refusal = code_refusal(&e);
        // A code the marketplace does not know (or not yet) is the customer's mistake, answered
        // as such and logged as a refusal by the caller; the rest is the ISV's to know of.
        let customers =
            matches!(&refusal, ServiceError::CodeRefused { kind, .. } if kind.is_customers());
        if !customers && let Some(suppressed) = self.client_log.admit(std::time::Instant::now()) {
            // The marketplace's message may quote the request, code included.
            let error = crate::logsafe::redact(&e.to_string(), code);
            if e.retryable() {
                tracing::warn!(error = %error, suppressed, "marketplace unavailable for a code activation");
            } else {
                tracing::error!(error = %error, suppressed, "the marketplace refused a code activation");
            }
        }
        refusal
    }
}

fn case_variant() -> ServiceError {
    ServiceError::Invalid(
        "code: differs only in letter case from a code already activated; enter it exactly as it was first entered (as shown with the purchase)".into(),
    )
}

fn busy_activating() -> ServiceError {
    ServiceError::Busy {
        message: "another device is activating this code right now; nothing was changed, try again in a few seconds".into(),
        retry_after: 2,
    }
}

/// The client's view of a code license whose purchase details are missing; the ISV is told in
/// the log what to do about it.
fn incomplete(license: &str, missing: &[&str]) -> ServiceError {
    tracing::error!(license = %license, missing = %missing.join(","), "a code's activation answer was lost: its product, order or quantity is unknown and nothing is minted until they are entered; run `licctl codes repair CODE --product P --quantity N --order O` with the values from the Seller Console");
    ServiceError::CodeIncomplete {
        license: license.to_string(),
        missing: missing.join(", "),
    }
}

/// A failed code call as the client should see it: what a retry may fix is `Unavailable`
/// (503), what it cannot is a refusal naming the cause (protocol §6.4).
fn code_refusal(e: &CallError) -> ServiceError {
    use super::CodeRefusal;
    let refused = |kind, message: &str| ServiceError::CodeRefused {
        kind,
        message: message.to_string(),
    };
    match e.code() {
        Some("92020004") => refused(
            CodeRefusal::NotDelivered,
            "this activation code has not been delivered to the customer yet; try again once it shows in the marketplace under purchased resources",
        ),
        Some("92020005") => refused(
            CodeRefusal::UnknownCode,
            "no such activation code: check the code shown with the purchase",
        ),
        Some("92020011") => refused(
            CodeRefusal::NotActivated,
            "the marketplace has no activation of this code; activate it again",
        ),
        Some("92020002" | "92020020" | "95000001") => refused(
            CodeRefusal::InvalidCode,
            "the marketplace refused this activation code as malformed: check the code shown with the purchase",
        ),
        _ if e.retryable() => ServiceError::Unavailable(
            "the marketplace cannot be reached to activate the code; nothing was changed, try again in a minute".into(),
        ),
        _ => refused(
            CodeRefusal::Refused,
            "the marketplace refused to activate this code; contact the seller",
        ),
    }
}
