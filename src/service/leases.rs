//! Floating licenses: a license's seats shared by leases (`/v1/leases`), each a short token a
//! running program renews, signed like a license and verified offline against its machine.
//!
//! Who holds which seat is decided by the pure [`crate::license::lease`] module, in one step per
//! license: the step reads the license and its leases under the license's lock (every node on
//! PostgreSQL), on the store's clock (the database's there), and commits the grant or renewal
//! durably before it answers. So the invariant of that module (never more leases holding a seat
//! than the license has seats) holds across a crash, a restart and several nodes. Grants,
//! releases and force releases are audited; renewals are durable but not audited (100,000
//! leases renewing every few minutes would add tens of millions of records a day).

use crate::accounts::{Action, Principal};
use client_verifier::{
    Binding, Fingerprint, LeaseClaims, MatchPolicy, Timestamp, VerifyError, mint_lease,
};
use serde_json::json;

use super::seats::{check_public_fingerprint, refuse_superseded};
use super::{Reason, Service, ServiceError, must_get};
use crate::catalog::Floating;
use crate::license::lease::{self, Decision, Lease, RenewRefused};
use crate::license::{License, Status, binding_salt};
use crate::store::{AuditEvent, Batch};

/// How long an ended lease is kept before a later step on its license forgets it: long enough
/// for the console to show it and for a late renewal to learn why it was refused.
const FORGET_AFTER_SECS: i64 = 3_600;
/// The longest `instance` name a program may give (host and pid, a container id).
pub const MAX_INSTANCE_CHARS: usize = 128;

/// A lease as `/v1/leases` and `/v1/leases/renew` answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    /// The lease token.
    pub token: String,
    /// The lease id (the token's `jti`; the license id, `~`, a random part).
    pub lease_id: String,
    /// The seat.
    pub seat: u32,
    /// When it ends unless renewed.
    pub expires_at: Timestamp,
    /// When the program should renew it: half way, so one failed renewal leaves time for more.
    pub renew_after: Timestamp,
    /// Borrowed for offline use.
    pub borrowed: bool,
    /// Whether this call took the seat (false: the program's own lease, renewed).
    pub new: bool,
}

/// A floating license's seats, as `/v1/leases/status` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupancy {
    /// The license.
    pub license: String,
    /// Its seats.
    pub seats: u32,
    /// Leases holding a seat now.
    pub in_use: u32,
    /// When the first held seat frees, if any is held.
    pub next_free_at: Option<Timestamp>,
    /// The product's lease length.
    pub lease_secs: u32,
}

/// What a program asks for with `POST /v1/leases`.
#[derive(Debug, Clone)]
pub struct LeaseRequest<'a> {
    /// The running program's name for itself.
    pub instance: &'a str,
    /// The machine's fingerprint.
    pub fingerprint: &'a str,
    /// Borrow the seat until then (for a machine going offline).
    pub borrow_until: Option<Timestamp>,
}

/// What a program shows to see a floating license's seats: its token, or a License 2.0 code.
#[derive(Clone, Copy)]
pub enum LeaseCredential<'a> {
    /// The license token.
    License(&'a str),
    /// The activation code (a bearer secret: never logged).
    Code(&'a str),
}

impl std::fmt::Debug for LeaseCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeaseCredential::License(_) => "License(..)",
            LeaseCredential::Code(_) => "Code(<redacted>)",
        })
    }
}

/// A lease request's program and machine, checked ([`Service::lease_ask`]).
#[derive(Debug)]
pub(super) struct LeaseAsk {
    instance: String,
    fingerprint: Fingerprint,
    borrow_until: Option<Timestamp>,
}

/// The license a lease id names: lease ids are `<license id>~<random>`.
pub fn license_of_lease(lease_id: &str) -> Option<&str> {
    lease_id
        .rsplit_once('~')
        .map(|(l, _)| l)
        .filter(|l| !l.is_empty())
}

impl Service {
    /// `POST /v1/leases`: a seat of the floating license `license` (its token) for `req.instance` on
    /// the machine `req.fingerprint`: the program's own lease renewed if it holds one, else
    /// a free seat, else [`ServiceError::LeasesFull`].
    pub async fn lease(
        &self,
        license: &str,
        req: LeaseRequest<'_>,
        now: Timestamp,
    ) -> Result<Granted, ServiceError> {
        let claims = self.open_token(license, now).await?;
        let ask = self.lease_ask(&req)?;
        let (l, record, at, new) = self
            .transact(async |s, tx| {
                let mut l = must_get(tx, &claims.jti).await?;
                let mut batch = Batch::default();
                refuse_superseded(&l, &claims)?;
                let (record, at, new) = s.lease_in_step(tx, &mut l, &ask, &mut batch).await?;
                Ok((batch, (l, record, at, new)))
            })
            .await?;
        // Signed once the step let go of the license: the record is what holds the seat, and
        // a program that lost this answer gets its lease back by asking again.
        self.mint_lease_token(&l, &record, at, new)
    }

    /// `POST /v1/leases {code}`: a lease of the floating product a License 2.0 code bought. The
    /// first lease activates the code with the marketplace, as `/v1/codes/activate` does (one
    /// call, budgeted per address); its seats are the code's amount.
    pub async fn lease_code(
        &self,
        code: &str,
        req: LeaseRequest<'_>,
        client: std::net::IpAddr,
        now: Timestamp,
    ) -> Result<Granted, ServiceError> {
        if self.site.is_some() {
            return Err(ServiceError::Invalid(
                "code: a site server leases with the floating license's token, not a code".into(),
            ));
        }
        let code = super::codes::check_code(code)?;
        let ask = self.lease_ask(&req)?;
        match self
            .use_code(code, super::codes::CodeUse::Lease(&ask), client, now)
            .await?
        {
            super::codes::CodeUsed::Lease(l, record, at, new) => {
                self.mint_lease_token(&l, &record, at, new)
            }
            super::codes::CodeUsed::Seat(_) => {
                Err(ServiceError::Unavailable("internal error: a code used for a lease answered with a seat; try again and report it to the seller".into()))
            }
        }
    }

    /// The request's program and machine, checked.
    fn lease_ask(&self, req: &LeaseRequest<'_>) -> Result<LeaseAsk, ServiceError> {
        let instance = check_instance(req.instance)?;
        let fingerprint = Fingerprint::parse(req.fingerprint.trim())
            .map_err(|e| ServiceError::Invalid(format!("fingerprint: {e}")))?;
        check_public_fingerprint(&fingerprint, self.settings.min_fingerprint_components)?;
        Ok(LeaseAsk {
            instance,
            fingerprint,
            borrow_until: req.borrow_until,
        })
    }

    /// The lease decision for `ask` on license `l`, inside a step that holds `l`: the catalog's
    /// current terms, the store's clock, the program's own lease renewed or a free seat
    /// granted (audited), or [`ServiceError::LeasesFull`]. The record goes into `batch`.
    pub(super) async fn lease_in_step(
        &self,
        tx: &mut crate::store::Tx,
        l: &mut License,
        ask: &LeaseAsk,
        batch: &mut Batch,
    ) -> Result<(Lease, Timestamp, bool), ServiceError> {
        if self.adopt_catalog(l, Timestamp::now())? {
            batch.licenses.push(l.clone());
        }
        let terms = floating_terms(l)?;
        let (at, leases) = tx.leases(&l.id).await?;
        refuse_unusable(l, at)?;
        let until = match ask.borrow_until {
            None => at.add_secs(i64::from(terms.lease_secs)),
            Some(until) => borrow_limit(l, &terms, until, at)?,
        }
        .min(l.exp);
        let linger = i64::from(terms.linger_secs);
        let instance = ask.instance.as_str();
        // The same machine is recognised as the verifier would (a drifted component still
        // matches), so its program gets its lease back rather than a second seat.
        let binding = leases
            .iter()
            .filter(|x| x.instance == instance && x.holds_seat(at, 0))
            .find(|x| {
                Binding::decode(&x.binding)
                    .is_some_and(|b| b.check(&ask.fingerprint, MatchPolicy::Tolerant).holds())
            })
            .map(|x| x.binding.clone())
            .unwrap_or_else(|| {
                Binding::new(&ask.fingerprint, binding_salt(&l.id, "lease")).encode()
            });
        forget_ended(&leases, at, linger, batch);
        // Seats allotted to site servers are not the online leases' to take.
        let seats = l
            .quantity
            .saturating_sub(crate::license::site::seats_held(&l.sites, at, None));
        let (record, new) = match lease::decide(&leases, seats, &binding, instance, at, linger) {
            Decision::Existing(mine) => {
                let mut renewed =
                    lease::renew(&mine, at, until).map_err(|why| ended(&mine, why))?;
                // Asked again with or without borrowing: the lease becomes what was asked.
                renewed.expires = until;
                renewed.borrowed = ask.borrow_until.is_some();
                (renewed, false)
            }
            Decision::Grant { seat } => {
                if let Err(retry_after) = self.lease_grants.check(&l.id) {
                    return Err(ServiceError::TooManyRequests {
                        message: format!(
                            "license {}: too many new leases in a short time; try again in {retry_after} s",
                            l.id
                        ),
                        retry_after,
                    });
                }
                let granted = Lease {
                    id: format!("{}~{}", l.id, crate::crypto::hex(&self.fresh_id_bytes()?)),
                    license_id: l.id.clone(),
                    product: l.product.clone(),
                    seat,
                    binding,
                    instance: instance.to_string(),
                    granted: at,
                    expires: until,
                    released: None,
                    force_released: None,
                    borrowed: ask.borrow_until.is_some(),
                };
                batch.audit.push(AuditEvent::new(
                    &l.id,
                    "leaseGranted",
                    "client",
                    at,
                    json!({
                        "lease": granted.id,
                        "seat": seat,
                        "of": l.quantity,
                        "instance": instance,
                        "borrowed": granted.borrowed,
                        "expires": granted.expires,
                    }),
                ));
                (granted, true)
            }
            Decision::Full {
                seats,
                in_use,
                next_free_at,
            } => {
                self.count_lease_refusal(&l.product);
                return Err(ServiceError::LeasesFull {
                    license: l.id.clone(),
                    seats,
                    in_use,
                    next_free_at,
                    now: at,
                });
            }
        };
        batch.leases.push(record.clone());
        Ok((record, at, new))
    }

    /// `POST /v1/leases/renew`: the lease `token` extended by the product's lease length.
    /// Refused for good ([`ServiceError::LeaseEnded`], 410) once it was released, taken back
    /// by an operator or expired, or its license was frozen, released or revoked.
    pub async fn renew_lease(&self, token: &str, now: Timestamp) -> Result<Granted, ServiceError> {
        let (license_id, lease_id) = self.open_lease(token, now)?;
        // A code's daily check with the marketplace rides on its renewals, as on refreshes:
        // a refunded code stops leasing within a day.
        if license_id.starts_with(crate::license::CODE_ID_PREFIX) {
            self.check_code_if_due(&license_id, now).await;
        }
        let (l, renewed, at) = self
            .transact(async |s, tx| {
                let mut l = must_get(tx, &license_id).await?;
                let mut batch = Batch::default();
                if s.adopt_catalog(&mut l, now)? {
                    batch.licenses.push(l.clone());
                }
                let terms = floating_terms(&l)?;
                let (at, mine) = tx.lease(&l.id, &lease_id).await?;
                let mine = mine.as_ref().ok_or_else(|| ServiceError::LeaseEnded {
                    lease: lease_id.clone(),
                    why: "expired",
                    message: format!("lease {lease_id} has ended; lease a seat again"),
                })?;
                refuse_unusable(&l, at).map_err(|e| match e {
                    ServiceError::Revoked(_) => ServiceError::LeaseEnded {
                        lease: lease_id.clone(),
                        why: "revoked",
                        message: format!("license {} has been revoked", l.id),
                    },
                    other => other,
                })?;
                // A borrowed lease is not renewed: it is borrowed again, or returned.
                let until = if mine.borrowed {
                    mine.expires
                } else {
                    at.add_secs(i64::from(terms.lease_secs)).min(l.exp)
                };
                let renewed = lease::renew(mine, at, until).map_err(|why| ended(mine, why))?;
                batch.leases.push(renewed.clone());
                Ok((batch, (l, renewed, at)))
            })
            .await?;
        self.mint_lease_token(&l, &renewed, at, false)
    }

    /// `POST /v1/leases/release`: the program gives its lease back; the seat is free after the
    /// product's `linger_secs`. Releasing a lease that already ended changes nothing.
    pub async fn release_lease(&self, token: &str, now: Timestamp) -> Result<(), ServiceError> {
        let (license_id, lease_id) = match self.open_lease(token, now) {
            Ok(ids) => ids,
            // It ended by itself: nothing holds a seat.
            Err(ServiceError::LeaseEnded { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.transact(async |_, tx| {
            let mut batch = Batch::default();
            let (at, mine) = tx.lease(&license_id, &lease_id).await?;
            if let Some(mine) = mine.filter(|x| x.released.is_none() && at < x.expires) {
                batch.leases.push(Lease {
                    released: Some(at),
                    ..mine.clone()
                });
                batch.audit.push(AuditEvent::new(
                    &license_id,
                    "leaseReleased",
                    "client",
                    at,
                    json!({ "lease": lease_id, "seat": mine.seat }),
                ));
            }
            Ok((batch, ()))
        })
        .await
    }

    /// `POST /v1/leases/status`: the seats of the floating license `token`, in use and free,
    /// read without locking (a snapshot: check before a long job, then lease).
    pub async fn lease_status(
        &self,
        credential: LeaseCredential<'_>,
        now: Timestamp,
    ) -> Result<Occupancy, ServiceError> {
        let l = match credential {
            LeaseCredential::License(token) => {
                let claims = self.open_token(token, now).await?;
                let l = self
                    .store()
                    .license(&claims.jti)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(claims.jti.clone()))?;
                refuse_superseded(&l, &claims)?;
                l
            }
            // Only a code licd has activated: an unknown one is refused like a wrong one,
            // and costs no marketplace call.
            LeaseCredential::Code(code) => {
                let code = super::codes::check_code(code)?;
                let key = crate::store::OrderKey::Code(code.to_string());
                let unknown = || {
                    ServiceError::Invalid(
                        "code: not an activated code of this server; lease with it first".into(),
                    )
                };
                let id = self.store().order(&key).await?.ok_or_else(unknown)?;
                let l = self.store().license(&id).await?.ok_or_else(unknown)?;
                if l.activated.is_none() {
                    return Err(unknown());
                }
                l
            }
        };
        let terms = self.terms_now(&l)?;
        let leases = self.store().leases(&l.id).await?;
        let (in_use, next_free_at) = lease::occupancy(&leases, now, i64::from(terms.linger_secs));
        Ok(Occupancy {
            seats: l
                .quantity
                .saturating_sub(crate::license::site::seats_held(&l.sites, now, None)),
            license: l.id,
            in_use,
            next_free_at,
            lease_secs: terms.lease_secs,
        })
    }

    /// A license's leases, ended ones included until forgotten (admin).
    pub async fn leases_of(&self, license_id: &str) -> Result<Vec<Lease>, ServiceError> {
        if self.store().license(license_id).await?.is_none() {
            return Err(ServiceError::NotFound(license_id.to_string()));
        }
        Ok(self.store().leases(license_id).await?)
    }

    /// An operator takes lease `lease_id` back: its renewals are refused from now on, and its
    /// seat counts as free when the lease expires (the program may run until then: its token
    /// is valid offline). Taking back a lease already ended or taken changes nothing.
    pub async fn force_release_lease(
        &self,
        lease_id: &str,
        reason: &str,
        by: &Principal,
    ) -> Result<Lease, ServiceError> {
        by.require(Action::ServeCustomer)?;
        let actor = by.actor();
        let reason = Reason::check(reason, Reason::FORCE_RELEASE, "the lease is taken back")?;
        let reason = reason.as_str().to_string();
        let license_id = license_of_lease(lease_id)
            .ok_or_else(|| ServiceError::NotFound(format!("lease {lease_id}")))?
            .to_string();
        self.transact(async |_, tx| {
            must_get(tx, &license_id).await?;
            let (at, mine) = tx.lease(&license_id, lease_id).await?;
            let mine = mine.ok_or_else(|| ServiceError::NotFound(format!("lease {lease_id}")))?;
            let mut batch = Batch::default();
            if mine.force_released.is_some() || mine.released.is_some() || at >= mine.expires {
                return Ok((batch, mine));
            }
            let taken = Lease {
                force_released: Some(at),
                ..mine
            };
            batch.audit.push(AuditEvent::new(
                &license_id,
                "leaseForceReleased",
                actor,
                at,
                json!({ "lease": lease_id, "seat": taken.seat, "reason": reason, "free_at": taken.expires }),
            ));
            batch.leases.push(taken.clone());
            Ok((batch, taken))
        })
        .await
    }

    /// The lease terms of `l` as the catalog says now (a catalog reload reaches the record at
    /// its next step).
    fn terms_now(&self, l: &License) -> Result<Floating, ServiceError> {
        let mut l = l.clone();
        if self.site.is_none() {
            l.apply_entry(self.catalog().lookup(&l.product, &l.sku).entry());
        }
        floating_terms(&l)
    }

    /// Brings `l` to what the catalog says now (a new revision when anything changed); in
    /// site mode the terms are the allotment's and no catalog applies.
    fn adopt_catalog(&self, l: &mut License, now: Timestamp) -> Result<bool, ServiceError> {
        if self.site.is_some() {
            return Ok(false);
        }
        let catalog = self.catalog();
        Ok(l.adopt_entry(
            catalog.lookup(&l.product, &l.sku).entry(),
            &self.issuer(),
            now,
        )?)
    }

    /// Checks that `token` is a lease this server's keys signed, whatever its binding, and
    /// returns (license id, lease id). What a renewal grants comes from the stored lease, not
    /// from the token, so a token signed by a key the root revoked since is still good for
    /// naming its lease.
    fn open_lease(&self, token: &str, now: Timestamp) -> Result<(String, String), ServiceError> {
        match self.own_tokens().verify_lease(token, None, now) {
            Ok(v) => {
                let c = v.claims();
                if license_of_lease(&c.jti) != Some(c.lic.as_str()) {
                    return Err(ServiceError::Invalid(
                        "lease: not a lease this server granted".into(),
                    ));
                }
                Ok((c.lic.clone(), c.jti.clone()))
            }
            Err(VerifyError::LeaseEnded { at }) => Err(ServiceError::LeaseEnded {
                lease: String::new(),
                why: "expired",
                message: format!("the lease ended at {at}; lease a seat again"),
            }),
            Err(e) => Err(ServiceError::Invalid(format!("lease: {e}"))),
        }
    }

    /// The token of `record`, a lease of `l`, signed at `at`.
    fn mint_lease_token(
        &self,
        l: &License,
        record: &Lease,
        at: Timestamp,
        new: bool,
    ) -> Result<Granted, ServiceError> {
        let binding = Binding::decode(&record.binding).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "lease {}: its stored binding is unreadable",
                record.id
            ))
        })?;
        let mut claims = LeaseClaims::new(
            self.settings.issuer.as_str(),
            record.id.as_str(),
            l.id.as_str(),
            l.product.as_str(),
            l.sku.as_str(),
            record.seat,
            record.instance.as_str(),
            binding,
            at,
            record.expires,
        );
        claims.borrowed = record.borrowed;
        claims.entitlements = l.entitlements.clone();
        claims.edition.clone_from(&l.edition);
        let minted = match &self.site {
            Some(site) => {
                client_verifier::mint_site_lease(&self.key, &site.allotment, &site.terms, &claims)
            }
            None => mint_lease(&self.key, self.certificate.as_deref(), &claims),
        };
        let token = minted.map_err(|e| {
            ServiceError::Invalid(format!(
                "lease of license {}: cannot be signed: {e} (in rooted mode, the signing key's certificate must grant leases for product {:?})",
                l.id, l.product
            ))
        })?;
        let secs = record.expires.unix() - at.unix();
        let renew_after = if record.borrowed {
            record.expires
        } else {
            at.add_secs(secs / 2)
        };
        Ok(Granted {
            token,
            lease_id: record.id.clone(),
            seat: record.seat,
            expires_at: record.expires,
            renew_after,
            borrowed: record.borrowed,
            new,
        })
    }
}

/// The lease terms of `l`, or why it has none.
fn floating_terms(l: &License) -> Result<Floating, ServiceError> {
    l.floating.ok_or_else(|| {
        ServiceError::Invalid(format!(
            "license {}: its product is not floating (model = \"floating\" in the catalog); use the license as it is, or bind it with POST /v1/activate",
            l.id
        ))
    })
}

/// Refuses a lease (or a site allotment) on a license that cannot be used at `at`: released,
/// frozen or past its end.
pub(super) fn refuse_unusable(l: &License, at: Timestamp) -> Result<(), ServiceError> {
    match l.status {
        Status::Released => Err(ServiceError::Revoked(l.id.clone())),
        Status::Frozen => Err(ServiceError::LeaseEnded {
            lease: String::new(),
            why: "frozen",
            message: format!(
                "license {} is frozen (expired or suspended by the marketplace); renew it to lease seats again",
                l.id
            ),
        }),
        Status::Active if at >= l.exp => Err(ServiceError::LeaseEnded {
            lease: String::new(),
            why: "expired",
            message: format!("license {} ended at {}", l.id, l.exp),
        }),
        Status::Active => Ok(()),
    }
}

/// The end of a borrow asked to last until `until`, checked against the product's terms.
fn borrow_limit(
    l: &License,
    terms: &Floating,
    until: Timestamp,
    at: Timestamp,
) -> Result<Timestamp, ServiceError> {
    if terms.borrow_max_days == 0 {
        return Err(ServiceError::Invalid(format!(
            "borrow_until: license {}'s product does not allow borrowing (borrow_max_days in the catalog)",
            l.id
        )));
    }
    let max = at.add_secs(i64::from(terms.borrow_max_days) * client_verifier::DAY);
    if until <= at || until > max {
        return Err(ServiceError::Invalid(format!(
            "borrow_until: must be after now and at most {} day(s) ahead ({max})",
            terms.borrow_max_days
        )));
    }
    Ok(until)
}

/// The program's name for itself, checked: printable, not empty, bounded.
fn check_instance(instance: &str) -> Result<String, ServiceError> {
    let instance = instance.trim();
    if instance.is_empty() {
        return Err(ServiceError::Invalid(
            "instance: required; name the running program (host and pid, or a container id)".into(),
        ));
    }
    if instance.chars().count() > MAX_INSTANCE_CHARS || instance.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(format!(
            "instance: at most {MAX_INSTANCE_CHARS} printable characters"
        )));
    }
    Ok(instance.to_string())
}

/// Forgets leases that stopped holding a seat more than [`FORGET_AFTER_SECS`] ago.
fn forget_ended(leases: &[Lease], at: Timestamp, linger: i64, batch: &mut Batch) {
    for x in leases {
        if x.frees_at(linger).add_secs(FORGET_AFTER_SECS) <= at {
            batch.leases_done.push((x.license_id.clone(), x.id.clone()));
        }
    }
}

/// The 410 for a renewal refused.
fn ended(l: &Lease, why: RenewRefused) -> ServiceError {
    let (why, message) = match why {
        RenewRefused::Released => ("released", format!("lease {} was released", l.id)),
        RenewRefused::ForceReleased => (
            "force_released",
            format!(
                "lease {} was taken back by the seller; its seat is free when it expires at {}",
                l.id, l.expires
            ),
        ),
        RenewRefused::Expired => (
            "expired",
            format!("lease {} ended at {}; lease a seat again", l.id, l.expires),
        ),
    };
    ServiceError::LeaseEnded {
        lease: l.id.clone(),
        why,
        message,
    }
}
