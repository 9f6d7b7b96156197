//! Air-gapped activation: a machine that never reaches licd sends a request (`lor1.…`) by
//! another way (a portal, a USB stick, support) and installs the token it gets back; it gives
//! its seat back with a receipt (`ldr1.…`) signed by the device key the request registered.
//!
//! The formats and their signatures are `client_verifier::offline`; this module decides what a
//! request or receipt may do to a license's seats.

use crate::accounts::{Action, Principal};
use client_verifier::offline::{Receipt, Request};
use client_verifier::{Binding, MAX_BOARD_VALUES, Timestamp};
use serde_json::json;

use super::seats::{check_bindable, refuse_superseded, strong_enough};
use super::{Service, ServiceError};
use crate::license::{Activation, License, Transfers};
use crate::store::{AuditEvent, Batch};

/// A seat taken (or found again) for an offline request.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineSeat {
    /// The device-bound token to install on the machine.
    pub token: String,
    /// The license.
    pub license: String,
    /// The seat number.
    pub seat: u32,
    /// The license revision the token carries.
    pub revision: u32,
    /// Whether this request took the seat (false: the machine already held it).
    pub new: bool,
    /// Whether taking it was a transfer.
    pub transfer: bool,
}

/// A seat given back with a receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Deactivated {
    /// The license.
    pub license: String,
    /// The seat freed.
    pub seat: u32,
    /// The license's transfers after this.
    pub transfers: Transfers,
}

/// Said for every request that does not prove possession of a license licd issued, whatever
/// the reason (unknown id, wrong token): an anonymous client learns nothing about which ids
/// exist.
const NOT_OURS: &str = "request: it was not made with a license this server issued (or the license was replaced since); make the request again with the license as the seller sent it";

impl Service {
    /// Answers an offline activation request with a token bound to the binding it carries. The
    /// same machine (same device key and binding) gets its seat back with a fresh token (new
    /// validity, new check-in deadline); another takes a free seat, a transfer when the customer
    /// gave one back before.
    pub async fn offline_activate(
        &self,
        request: &str,
        by: &Principal,
        now: Timestamp,
    ) -> Result<OfflineSeat, ServiceError> {
        by.require(Action::ServeCustomer)?;
        let actor = by.actor();
        let req =
            Request::open(request).map_err(|e| ServiceError::Invalid(format!("request: {e}")))?;
        check_offline_binding(req.binding(), self.settings.min_fingerprint_components)?;
        let device = client_verifier::offline::device_id(req.device());
        let binding = req.binding().encode();
        self.transact(async |s, tx| {
            let Some(l) = tx.license(req.license()).await? else {
                return Err(ServiceError::Invalid(NOT_OURS.into()));
            };
            let Some(proven) = proven_token(&l, |t| req.proves_possession_of(t)) else {
                return Err(ServiceError::Invalid(NOT_OURS.into()));
            };
            check_bindable(&l, "an offline request")?;
            let (claims, _) = s.open_signed(proven, now)?;
            refuse_superseded(&l, &claims)?;
            let seats = tx.activations(&l.id).await?;
            let mut batch = Batch::default();
            let held = seats.iter().find(|a| {
                a.revoked.is_none()
                    && a.device_key.as_deref() == Some(device.as_str())
                    && a.binding == binding
            });
            let (a, new) = match held {
                Some(a) => {
                    // A renewal or a check-in: the same seat, a fresh token.
                    let mut a = a.clone();
                    super::note_replaced(&a.token);
                    a.token = l.mint(&s.issuer(), now, Some(req.binding().clone()))?;
                    a.revision = l.revision;
                    (a, false)
                }
                None => {
                    if seats.iter().any(|a| same_salt(a, req.binding())) {
                        return Err(ServiceError::Invalid(format!(
                            "request: this request was made for a seat of license {} that was given back or belongs to another machine; make a new request on the machine",
                            l.id
                        )));
                    }
                    let transfer = s.admit_new_seat(&l, &seats, now)?;
                    let number = u32::try_from(seats.len()).unwrap_or(u32::MAX);
                    let a = Activation {
                        license_id: l.id.clone(),
                        seat: number,
                        binding: binding.clone(),
                        token: l.mint(&s.issuer(), now, Some(req.binding().clone()))?,
                        revision: l.revision,
                        created: now,
                        revoked: None,
                        reported_day: None,
                        device_key: Some(device.clone()),
                        transfer,
                        deactivated: false,
                    };
                    batch.audit.push(AuditEvent::new(
                        &l.id,
                        "activate",
                        actor,
                        now,
                        json!({ "seat": number, "of": l.quantity, "offline": true, "transfer": transfer }),
                    ));
                    batch.stats.push((crate::store::activation_stat(now), 1));
                    tracing::info!(license = %l.id, seat = number, transfer, actor, "device activated by an offline request");
                    (a, true)
                }
            };
            batch.activations.push(a.clone());
            let seat = OfflineSeat {
                token: a.token,
                license: l.id.clone(),
                seat: a.seat,
                revision: a.revision,
                new,
                transfer: a.transfer && new,
            };
            Ok((batch, seat))
        })
        .await
    }

    /// Frees the seat a deactivation receipt names, when the receipt is signed by the device key
    /// that took it. The binding goes on the revocation list. Refused, with the seat left where
    /// it is, when the license could not take the seat again within its transfers.
    pub async fn offline_deactivate(
        &self,
        receipt: &str,
        by: &Principal,
        now: Timestamp,
    ) -> Result<Deactivated, ServiceError> {
        by.require(Action::ServeCustomer)?;
        let actor = by.actor();
        let r =
            Receipt::open(receipt).map_err(|e| ServiceError::Invalid(format!("receipt: {e}")))?;
        let device = client_verifier::offline::device_id(r.device());
        self.transact(async |s, tx| {
            let not_ours = || {
                ServiceError::Invalid(
                    "receipt: it does not match a seat taken by this machine's offline request"
                        .into(),
                )
            };
            let l = tx.license(r.license()).await?.ok_or_else(not_ours)?;
            let seats = tx.activations(&l.id).await?;
            let seat = seats
                .iter()
                .find(|a| {
                    a.device_key.as_deref() == Some(device.as_str())
                        && Binding::decode(&a.binding).is_some_and(|b| r.names(&b))
                })
                .ok_or_else(not_ours)?;
            give_back(
                s,
                &l,
                &seats,
                seat,
                actor,
                json!({ "seat": seat.seat, "offline": true }),
                now,
            )
        })
        .await
    }
}

/// The customer gives seat `seat` of `l` back (a deactivation receipt, or the portal): the seat
/// is freed, its binding goes on the revocation list, and the next seat taken counts as a
/// transfer. Refused, with the seat left where it is, when it is free already or when taking
/// it again would exceed the license's transfers (`seats` is every seat the license had).
pub(super) fn give_back(
    s: &Service,
    l: &License,
    seats: &[Activation],
    seat: &Activation,
    actor: &str,
    detail: serde_json::Value,
    now: Timestamp,
) -> Result<(Batch, Deactivated), ServiceError> {
    if seat.revoked.is_some() {
        return Err(ServiceError::AlreadyDeactivated {
            license: l.id.clone(),
            seat: seat.seat,
        });
    }
    let before = s.transfers(l, seats, now);
    if !before.may_give_back() {
        return Err(ServiceError::TransfersExhausted {
            license: l.id.clone(),
            used: before.used,
            limit: before.limit,
        });
    }
    let mut batch = Batch::default();
    let mut freed = seat.clone();
    freed.revoked = Some(now);
    freed.deactivated = true;
    if let Some(b) = Binding::decode(&freed.binding) {
        batch.revocations.push((b.revocation_id(&l.id), now));
    }
    batch
        .audit
        .push(AuditEvent::new(&l.id, "deactivate", actor, now, detail));
    tracing::info!(license = %l.id, seat = freed.seat, actor, "seat given back by the customer");
    let answer = Deactivated {
        license: l.id.clone(),
        seat: freed.seat,
        transfers: Transfers {
            pending: before.pending + 1,
            ..before
        },
    };
    batch.activations.push(freed);
    Ok((batch, answer))
}

/// The token of `l` that a request proves possession of (`proves`), checked against the tokens
/// licd handed out for the license: the one first issued and the newest. Offline and site
/// requests both prove a license this way.
pub(super) fn proven_token(l: &License, proves: impl Fn(&str) -> bool) -> Option<&str> {
    [l.issued_token.as_deref(), l.latest_token.as_deref()]
        .into_iter()
        .flatten()
        .find(|t| proves(t))
}

/// Whether seat `a`'s binding has the salt of `b`: a salt names one binding of a license on the
/// revocation list, so no two seats may share one.
fn same_salt(a: &Activation, b: &Binding) -> bool {
    Binding::decode(&a.binding).is_some_and(|x| x.salt() == b.salt())
}

/// A binding made on the machine is held to what `/v1/activate` asks of a raw fingerprint:
/// one machine's (one mainboard value at most; a binding keeps at most four disk serials, within
/// what a machine may list), at least `min` components, one of them the disk or mainboard serial.
pub(super) fn check_offline_binding(b: &Binding, min: u8) -> Result<(), ServiceError> {
    match b.value_counts() {
        None if min == 0 => Ok(()),
        None => Err(ServiceError::Invalid(
            "request: bound to an opaque fingerprint; this server needs the four-part form MAC|disk|mainboard|CPU".into(),
        )),
        Some(counts) if usize::from(counts[2]) > MAX_BOARD_VALUES => Err(ServiceError::Invalid(format!(
            "request: bound to {} mainboard values, more than one machine has; make the request on the machine itself (Fingerprint::collect)",
            counts[2]
        ))),
        Some(counts) => {
            let present = counts.map(|n| n > 0);
            let count = present.iter().filter(|&&p| p).count();
            strong_enough(count, present[1] || present[2], min)
                .map_err(|m| ServiceError::Invalid(format!("request: {m}")))
        }
    }
}
