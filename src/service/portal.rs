//! The customer portal's decisions (its pages are `http::portal`): what a credential the
//! customer already holds opens, what they see of their license, and the seats they may give
//! back.
//!
//! - An unbound license token or a License 2.0 code opens the whole license.
//! - A device-bound token opens only its own seat (or, for an online-activation instance, its
//!   own device license): it sits on that device, where others may read it, so it never frees
//!   another machine's seat or downloads the unbound license.
//! - A code licd has not activated opens nothing and costs no marketplace call.
//! - Every credential that opens nothing gets the same answer, so someone guessing learns
//!   nothing about which licenses or codes exist.
//!
//! The portal keeps no session of its own here: `http::portal` carries a [`PortalAccess`] in a
//! signed cookie, and every page and action checks it again with [`Service::portal_view`], so a
//! reissue, a revocation or a freed seat ends what it opened at once.

use client_verifier::{Binding, Timestamp};
use serde_json::json;

use super::offline::{Deactivated, give_back};
use super::seats::refuse_superseded;
use super::{Service, ServiceError};
use crate::license::lease::Lease;
use crate::license::{Activation, DeviceLicense, Kind, License, Status, Transfers};
use crate::store::Batch;

/// Said for every credential that opens nothing.
pub const NOT_OPENED: &str = "that is not a license or activation code this server issued (or it was replaced since): paste the license as the seller sent it, or the activation code from the marketplace";

/// The most a credential may be: a token with a certificate and a long entitlement list is a
/// few kilobytes.
const MAX_CREDENTIAL: usize = 16 * 1024;

/// What a signed-in customer may see and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalAccess {
    /// The license.
    pub license: String,
    /// Which part of it.
    pub scope: PortalScope,
    /// The revision of the token that opened it; a reissue past it ends the access. `None`
    /// for a code, which stays the license's until the license is gone.
    pub revision: Option<u32>,
}

/// The part of a license a credential opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalScope {
    /// All of it: the unbound token or the code.
    License,
    /// One seat: a token bound to that seat's machine.
    Seat(u32),
    /// One device license of an online-activation instance (its marketplace request id).
    Device(String),
}

impl PortalAccess {
    /// The audit log's actor for what this customer does.
    pub fn actor(&self) -> String {
        format!("portal:{}", self.license)
    }

    /// Whether this access may act on seat `seat`.
    pub fn covers_seat(&self, seat: u32) -> bool {
        match self.scope {
            PortalScope::License => true,
            PortalScope::Seat(n) => n == seat,
            PortalScope::Device(_) => false,
        }
    }
}

/// The license as a signed-in customer sees it.
#[derive(Debug, Clone)]
pub struct PortalView {
    /// The license.
    pub license: License,
    /// The edition's name in the catalog, when it lists the product.
    pub edition: Option<String>,
    /// When the freeze window ends: until then a frozen license keeps working.
    pub freeze_until: Timestamp,
    /// The seats this access sees, held ones first.
    pub seats: Vec<Activation>,
    /// The device licenses this access sees (online activation).
    pub devices: Vec<DeviceLicense>,
    /// The license's transfers this year.
    pub transfers: Transfers,
    /// Floating leases holding a seat now (the whole license only).
    pub leases: Vec<Lease>,
    /// Whether there is a license file to download.
    pub download: bool,
}

impl Service {
    /// What `credential` (a license token or a License 2.0 code, as pasted) opens. Refused with
    /// [`NOT_OPENED`] when it opens nothing, [`ServiceError::Superseded`] for a token a reissue
    /// replaced and [`ServiceError::Revoked`] for a revoked license or a seat given up.
    pub async fn portal_sign_in(
        &self,
        credential: &str,
        now: Timestamp,
    ) -> Result<PortalAccess, ServiceError> {
        let c = credential.trim();
        let not_opened = || ServiceError::Invalid(NOT_OPENED.into());
        if c.is_empty() || c.len() > MAX_CREDENTIAL {
            return Err(not_opened());
        }
        if !c.starts_with("v4.public.") {
            // A code: only one licd activated (so it is in the store); never a marketplace call.
            let l = match self.license_of_code(c).await {
                Ok(l) => l,
                Err(ServiceError::NotFound(_)) => return Err(not_opened()),
                Err(e) => return Err(e),
            };
            if l.kind != Kind::Code || l.activated.is_none() {
                return Err(not_opened());
            }
            let access = PortalAccess {
                license: l.id,
                scope: PortalScope::License,
                revision: None,
            };
            return Ok(access);
        }
        let claims = self.open_token(c, now).await.map_err(|_| not_opened())?;
        let l = self
            .store
            .license(&claims.jti)
            .await?
            .ok_or_else(not_opened)?;
        if claims.product != l.product {
            return Err(not_opened());
        }
        if l.status == Status::Released {
            return Err(ServiceError::Revoked(l.id));
        }
        refuse_superseded(&l, &claims)?;
        let scope = match &claims.binding {
            None => PortalScope::License,
            Some(b) => {
                if self.store.is_revoked(&b.revocation_id(&l.id)).await? {
                    return Err(ServiceError::Revoked(l.id));
                }
                self.scope_of_binding(&l, b, now).await?
            }
        };
        Ok(PortalAccess {
            license: l.id,
            scope,
            revision: Some(claims.revision),
        })
    }

    /// The seat or device license `b` is bound to, still held.
    async fn scope_of_binding(
        &self,
        l: &License,
        b: &Binding,
        now: Timestamp,
    ) -> Result<PortalScope, ServiceError> {
        if l.kind == Kind::Online {
            for d in self.store.devices_for(&l.id).await? {
                let bound = self
                    .open_signed(&d.token, now)
                    .ok()
                    .and_then(|(c, _)| c.binding);
                if d.revoked.is_none() && bound.as_ref() == Some(b) {
                    return Ok(PortalScope::Device(d.event_id));
                }
            }
            return Err(ServiceError::Revoked(l.id.clone()));
        }
        let encoded = b.encode();
        self.store
            .activations(&l.id)
            .await?
            .into_iter()
            .find(|a| a.binding == encoded && a.revoked.is_none())
            .map(|a| PortalScope::Seat(a.seat))
            .ok_or_else(|| ServiceError::Revoked(l.id.clone()))
    }

    /// The license as `access` sees it now; refused as at sign-in when what opened it is gone
    /// (the license revoked, the token replaced, the seat given up), which ends the session.
    pub async fn portal_view(
        &self,
        access: &PortalAccess,
        now: Timestamp,
    ) -> Result<PortalView, ServiceError> {
        let l = self
            .store
            .license(&access.license)
            .await?
            .ok_or_else(|| ServiceError::Invalid(NOT_OPENED.into()))?;
        if l.status == Status::Released {
            return Err(ServiceError::Revoked(l.id));
        }
        if let Some(revision) = access.revision
            && l.superseded(revision)
        {
            return Err(ServiceError::Superseded {
                license: l.id,
                revision,
            });
        }
        let all = self.store.activations(&l.id).await?;
        let transfers = self.transfers(&l, &all, now);
        let mut seats: Vec<Activation> = all
            .into_iter()
            .filter(|a| access.covers_seat(a.seat))
            .collect();
        if let PortalScope::Seat(n) = access.scope
            && !seats.iter().any(|a| a.seat == n && a.revoked.is_none())
        {
            return Err(ServiceError::Revoked(l.id));
        }
        // Held seats first, newest first; then the freed ones, for the history.
        seats.sort_by_key(|a| (a.revoked.is_some(), std::cmp::Reverse(a.created)));
        let devices: Vec<DeviceLicense> = match &access.scope {
            PortalScope::License => self.store.devices_for(&l.id).await?,
            PortalScope::Device(id) => self
                .store
                .devices_for(&l.id)
                .await?
                .into_iter()
                .filter(|d| &d.event_id == id)
                .collect(),
            PortalScope::Seat(_) => Vec::new(),
        };
        if let PortalScope::Device(_) = access.scope
            && !devices.iter().any(|d| d.revoked.is_none())
        {
            return Err(ServiceError::Revoked(l.id));
        }
        let leases = match (&access.scope, &l.floating) {
            (PortalScope::License, Some(terms)) => {
                let linger = i64::from(terms.linger_secs);
                self.store
                    .leases(&l.id)
                    .await?
                    .into_iter()
                    .filter(|x| x.holds_seat(now, linger))
                    .collect()
            }
            _ => Vec::new(),
        };
        let edition = self
            .catalog()
            .lookup(&l.product, &l.sku)
            .entry()
            .map(|e| e.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| l.edition.clone());
        let download = match access.scope {
            PortalScope::License => l.current_token().is_some(),
            PortalScope::Seat(_) | PortalScope::Device(_) => true,
        };
        Ok(PortalView {
            freeze_until: l.freeze_until(self.settings.freeze_days),
            edition,
            seats,
            devices,
            transfers,
            leases,
            download,
            license: l,
        })
    }

    /// The customer gives seat `seat` back from the portal: as a deactivation receipt does, it
    /// counts a transfer, is refused past the license's transfers, and puts the seat's binding
    /// on the revocation list. A device-bound token frees only its own seat.
    pub async fn portal_free_seat(
        &self,
        access: &PortalAccess,
        seat: u32,
        now: Timestamp,
    ) -> Result<Deactivated, ServiceError> {
        self.portal_view(access, now).await?;
        if !access.covers_seat(seat) {
            return Err(ServiceError::NotFound(format!(
                "seat {seat} is not one this sign-in opens"
            )));
        }
        let actor = access.actor();
        self.transact(async |s, tx| {
            let l = super::must_get(tx, &access.license).await?;
            let seats = tx.activations(&l.id).await?;
            let held = seats.iter().find(|a| a.seat == seat).ok_or_else(|| {
                ServiceError::NotFound(format!("seat {seat} is not one this sign-in opens"))
            })?;
            give_back(
                s,
                &l,
                &seats,
                held,
                &actor,
                json!({ "seat": seat, "portal": true }),
                now,
            )
        })
        .await
    }

    /// The license file `access` may download, at its newest revision: the unbound license for
    /// the whole license, the bound token for a seat or device. `None` when there is none (a
    /// code's license has no unbound token).
    pub async fn portal_license_file(
        &self,
        access: &PortalAccess,
        now: Timestamp,
    ) -> Result<Option<String>, ServiceError> {
        let view = self.portal_view(access, now).await?;
        let held = match &access.scope {
            PortalScope::License => view.license.current_token().map(str::to_string),
            PortalScope::Seat(n) => view
                .seats
                .iter()
                .find(|a| a.seat == *n && a.revoked.is_none())
                .map(|a| a.token.clone()),
            PortalScope::Device(_) => view
                .devices
                .iter()
                .find(|d| d.revoked.is_none())
                .map(|d| d.token.clone()),
        };
        let Some(token) = held else {
            return Ok(None);
        };
        // The newest revision, re-signed where the key that signed it was revoked; a download
        // is recorded as the customer's.
        let fresh = self.refresh(&token, now).await?.token;
        self.transact(async |_, _| {
            let mut batch = Batch::default();
            batch.audit.push(crate::store::AuditEvent::new(
                &access.license,
                "portal-download",
                &access.actor(),
                now,
                json!({ "bound": !matches!(access.scope, PortalScope::License) }),
            ));
            Ok((batch, ()))
        })
        .await?;
        Ok(Some(fresh))
    }

    /// Records the customer's sign-in (or sign-out) in the license's audit log.
    pub async fn portal_audit(
        &self,
        access: &PortalAccess,
        action: &str,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let scope = match &access.scope {
            PortalScope::License => json!("license"),
            PortalScope::Seat(n) => json!({ "seat": n }),
            PortalScope::Device(_) => json!("device"),
        };
        self.transact(async |_, _| {
            let mut batch = Batch::default();
            batch.audit.push(crate::store::AuditEvent::new(
                &access.license,
                action,
                &access.actor(),
                now,
                json!({ "scope": scope }),
            ));
            Ok((batch, ()))
        })
        .await
    }
}

impl Service {
    /// The key that seals portal sessions: derived from the signing key, so every node of a
    /// cluster (which signs with one key ring) opens the sessions of the others, and nobody
    /// without the key can make one. Activating another signing key signs customers out of the
    /// portal (they sign in again).
    pub fn portal_secret(&self) -> [u8; 32] {
        crate::crypto::hmac_sha256(
            self.key.to_paserk().as_bytes(),
            &[b"licd-portal-session-key-v1"],
        )
    }

    /// Records that portal session `sid` ended (signed out, or its seat given up), until
    /// `until`, when the session would have expired anyway: on every node.
    pub async fn portal_sign_out(&self, sid: &str, until: Timestamp) -> Result<(), ServiceError> {
        self.store
            .remember_nonce(&format!("portal-out:{sid}"), until)
            .await?;
        Ok(())
    }

    /// Whether portal session `sid` was ended.
    pub async fn portal_signed_out(&self, sid: &str, now: Timestamp) -> Result<bool, ServiceError> {
        Ok(self
            .store
            .remembered(&format!("portal-out:{sid}"), now)
            .await?)
    }
}
