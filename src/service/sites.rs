//! Site servers, on the ISV's licd: a site request (`lsr1.…`) answered with an allotment (a
//! token signed by licd's key granting a site key some of a floating license's seats), and a
//! site receipt (`lsd1.…`) giving them back.
//!
//! The formats are `client_verifier::offline::site`; who may hold how many seats is the pure
//! [`crate::license::site`] module, decided in the license's step together with its online
//! leases, so the two never share a seat.

use crate::accounts::{Action, Principal};
use client_verifier::offline::site::{SiteReceipt, SiteRequest};
use client_verifier::{AllotmentClaims, PublicKey, Timestamp, mint_allotment};
use serde_json::json;

use super::seats::refuse_superseded;
use super::{Service, ServiceError};
use crate::license::License;
use crate::license::lease;
use crate::license::site::{self, AllotRefused, ReceiptTarget, Site};
use crate::store::{AuditEvent, Batch};

/// Said for every site request that does not prove possession of a license licd issued.
const NOT_OURS: &str = "request: it was not made with a license this server issued (or the license was replaced since); run licd site init again with the license as the seller sent it";

/// An allotment, as `/v1/site/allot` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Allotment {
    /// The allotment token, for `licd site serve --allotment`.
    pub token: String,
    /// Its id.
    pub id: String,
    /// The license.
    pub license: String,
    /// Seats allotted.
    pub seats: u32,
    /// When it ends: a new request before then renews it.
    pub expires_at: Timestamp,
    /// Whether it is a new site (false: the same site's allotment renewed).
    pub new: bool,
}

/// A site's seats given back.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteReturned {
    /// The license.
    pub license: String,
    /// Seats given back.
    pub seats: u32,
    /// When they are free: when the last lease the site signed ends.
    pub free_at: Timestamp,
    /// Whether this receipt did it (false: given back before, or from before the last return).
    pub new: bool,
}

impl Service {
    /// Answers a site request with an allotment: the seats it asks for (all that are left when
    /// it asks for none) of the floating license it proves to hold, bound to the site's machine
    /// and key, until the license's end and, when the product has `check_in_days`, no later than
    /// that. The same site asking again gets a new allotment that supersedes its last one.
    pub async fn site_allot(
        &self,
        request: &str,
        by: &Principal,
        now: Timestamp,
    ) -> Result<Allotment, ServiceError> {
        by.require(Action::Sites)?;
        let actor = by.actor();
        let req = SiteRequest::open(request)
            .map_err(|e| ServiceError::Invalid(format!("request: {e}")))?;
        if req.binding().value_counts().is_some() {
            super::offline::check_offline_binding(
                req.binding(),
                self.settings.min_fingerprint_components,
            )?;
        }
        let site_key = PublicKey::from_bytes(req.site()).map_err(|_| {
            ServiceError::Invalid("request: the site key is not an Ed25519 key".into())
        })?;
        let jti = format!(
            "{}~site-{}",
            req.license(),
            crate::crypto::hex(&self.fresh_id_bytes()?)
        );
        let (l, record, new) = self
            .transact(async |s, tx| {
                let Some(mut l) = tx.license(req.license()).await? else {
                    return Err(ServiceError::Invalid(NOT_OURS.into()));
                };
                let proven = super::offline::proven_token(&l, |t| req.proves_possession_of(t));
                let Some(proven) = proven else {
                    return Err(ServiceError::Invalid(NOT_OURS.into()));
                };
                let (claims, _) = s.open_signed(proven, now)?;
                refuse_superseded(&l, &claims)?;
                if let Err(retry_after) = s.site_allots.check(&l.id) {
                    return Err(ServiceError::TooManyRequests {
                        message: format!(
                            "license {}: too many site allotments in a short time; try again in {retry_after} s",
                            l.id
                        ),
                        retry_after,
                    });
                }
                let mut batch = Batch::default();
                let catalog = s.catalog();
                let entry = catalog.lookup(&l.product, &l.sku);
                // The record is written below whatever this changes.
                l.adopt_entry(entry.entry(), &s.issuer(), now)?;
                let Some(terms) = l.floating else {
                    return Err(ServiceError::Invalid(format!(
                        "license {}: its product is not floating (model = \"floating\" in the catalog); a site server shares floating seats only",
                        l.id
                    )));
                };
                let (at, leases) = tx.leases(&l.id).await?;
                super::leases::refuse_unusable(&l, at)?;
                let (in_use, _) = lease::occupancy(&leases, at, i64::from(terms.linger_secs));
                let limit = entry
                    .entry()
                    .map_or(crate::catalog::DEFAULT_TRANSFERS_PER_YEAR, |e| e.transfers_per_year);
                let site_id = site_key.id().to_string();
                let granted = site::allot(&l.sites, l.quantity, in_use, &site_id, req.seats(), limit, at)
                    .map_err(|why| match why {
                        AllotRefused::NotEnough { asked, left } => ServiceError::SiteSeats {
                            license: l.id.clone(),
                            asked,
                            left,
                        },
                        AllotRefused::TransfersExhausted { used, limit } => {
                            ServiceError::TransfersExhausted {
                                license: l.id.clone(),
                                used,
                                limit,
                            }
                        }
                    })?;
                let mut expires = l.exp;
                if l.check_in_days > 0 {
                    expires = expires
                        .min(at.add_secs(i64::from(l.check_in_days) * client_verifier::DAY));
                }
                let new = !l.sites.iter().any(|x| x.id == site_id && x.is_live());
                let record = Site {
                    id: site_id,
                    key: site_key.to_paserk(),
                    binding: req.binding().encode(),
                    allotment: jti.clone(),
                    superseded: Vec::new(),
                    seats: granted.seats,
                    allotted: at,
                    since: None,
                    expires,
                    transfer: granted.transfer,
                    returned: None,
                    leases_end: None,
                };
                site::record(&mut l.sites, record.clone(), at);
                batch.audit.push(AuditEvent::new(
                    &l.id,
                    "siteAllotted",
                    actor,
                    at,
                    json!({
                        "site": record.id,
                        "allotment": record.allotment,
                        "seats": record.seats,
                        "of": l.quantity,
                        "expires": record.expires,
                        "transfer": record.transfer,
                        "new": new,
                    }),
                ));
                tracing::info!(license = %l.id, site = %record.id, seats = record.seats, new, actor, "site allotted");
                batch.licenses.push(l.clone());
                Ok((batch, (l, record, new)))
            })
            .await?;
        let token = self.mint_allotment_token(&l, &record)?;
        Ok(Allotment {
            token,
            id: record.allotment,
            license: l.id,
            seats: record.seats,
            expires_at: record.expires,
            new,
        })
    }

    /// Gives back the seats of the allotment a site receipt names, signed by that allotment's
    /// site key. Never refused for want of transfers (that would strand the seats): the next
    /// allotment is limited instead. The seats are free once the last lease the site signed
    /// ends, as the receipt states (never later than the allotment). The receipt may name the
    /// site's current allotment or one it superseded since its last return (the site runs what
    /// it installed); one given back already, or from before that return, changes nothing.
    pub async fn site_return(
        &self,
        receipt: &str,
        by: &Principal,
        now: Timestamp,
    ) -> Result<SiteReturned, ServiceError> {
        by.require(Action::Sites)?;
        let actor = by.actor();
        let r = SiteReceipt::open(receipt)
            .map_err(|e| ServiceError::Invalid(format!("receipt: {e}")))?;
        let key = PublicKey::from_bytes(r.site()).map_err(|_| {
            ServiceError::Invalid("receipt: the site key is not an Ed25519 key".into())
        })?;
        self.transact(async |_, tx| {
            let not_ours = || {
                ServiceError::Invalid(
                    "receipt: it does not name an allotment of this site; make it with licd site release on the site server".into(),
                )
            };
            let mut l = tx.license(r.license()).await?.ok_or_else(not_ours)?;
            let site_id = key.id().to_string();
            let mut batch = Batch::default();
            let i = match site::receipt_target(&l.sites, &site_id, r.allotment()) {
                ReceiptTarget::Live(i) => i,
                ReceiptTarget::Returned(i) => {
                    let x = &l.sites[i];
                    let answer = SiteReturned {
                        license: l.id.clone(),
                        seats: x.seats,
                        free_at: x.leases_end.unwrap_or(now).min(x.expires),
                        new: false,
                    };
                    return Ok((batch, answer));
                }
                // A receipt from before the site last gave its seats back: a replay.
                ReceiptTarget::Stale => {
                    let answer = SiteReturned {
                        license: l.id.clone(),
                        seats: 0,
                        free_at: now,
                        new: false,
                    };
                    return Ok((batch, answer));
                }
                ReceiptTarget::Unknown => return Err(not_ours()),
            };
            let x = &mut l.sites[i];
            let free_at = r.leases_end().max(now).min(x.expires);
            x.returned = Some(now);
            x.leases_end = Some(free_at);
            let answer = SiteReturned {
                license: l.id.clone(),
                seats: x.seats,
                free_at,
                new: true,
            };
            batch.audit.push(AuditEvent::new(
                &l.id,
                "siteReturned",
                actor,
                now,
                json!({ "site": site_id, "allotment": r.allotment(), "seats": answer.seats, "free_at": free_at }),
            ));
            tracing::info!(license = %l.id, site = %site_id, seats = answer.seats, actor, "site gave its seats back");
            batch.licenses.push(l);
            Ok((batch, answer))
        })
        .await
    }

    /// The allotment token of `site`, a site of `l`.
    fn mint_allotment_token(&self, l: &License, site: &Site) -> Result<String, ServiceError> {
        let terms = l.floating.ok_or_else(|| {
            ServiceError::Invalid(format!("license {}: its product is not floating", l.id))
        })?;
        let binding = client_verifier::Binding::decode(&site.binding).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "site {}: its stored binding is unreadable",
                site.id
            ))
        })?;
        let claims = AllotmentClaims {
            iss: self.settings.issuer.clone(),
            jti: site.allotment.clone(),
            lic: l.id.clone(),
            status: client_verifier::TokenStatus::Site,
            iat: site.allotted,
            nbf: site.allotted,
            exp: site.expires,
            product: l.product.clone(),
            sku: l.sku.clone(),
            seats: site.seats,
            site_key: site.key.clone(),
            binding,
            entitlements: l.entitlements.clone(),
            edition: l.edition.clone(),
            lease_secs: terms.lease_secs,
            linger_secs: terms.linger_secs,
            borrow_max_days: terms.borrow_max_days,
            keys: self.trusted.iter().map(PublicKey::to_paserk).collect(),
        };
        mint_allotment(&self.key, self.certificate.as_deref(), &claims).map_err(|e| {
            ServiceError::Invalid(format!(
                "allotment for license {}: cannot be signed: {e} (in rooted mode, the signing key's certificate must grant leases for product {:?})",
                l.id, l.product
            ))
        })
    }
}
