//! The license domain: what a license is, the states it moves through, and the tokens it is
//! minted as.
//!
//! Everything here is a pure function of the record, the request and `now`; it imports neither
//! axum nor sled, nor the store. The service (`crate::service`) looks records up through the
//! [`crate::store::Store`] trait, calls these functions, and hands the result back to the store
//! as one batch.

pub mod lease;
pub mod site;

use client_verifier::{
    Binding, Claims, Entitlements, Fingerprint, SecretKey, Timestamp, TokenStatus, mint,
};
use serde::{Deserialize, Serialize};

use crate::catalog::{BindingRule, Entry};

/// Expiry of a license without one (one-off purchases): far enough never to matter, early
/// enough that `exp` plus a freeze window still fits the RFC 3339 years tokens allow.
pub const PERPETUAL: Timestamp = Timestamp::from_unix(253_370_764_800); // 9999-01-01T00:00:00Z

/// How the id of a License 2.0 code's license starts (the rest is random): `/v1/refresh` runs
/// the daily check with the marketplace only for these.
pub const CODE_ID_PREFIX: &str = "lc-";

/// Which marketplace integration created the license.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// License 1.0: `getLicense` returns an unbound token; the software binds it on activation.
    Classic,
    /// Online activation: `newInstance` creates an instance; each device gets a bound token
    /// through `getLicenseAsync`.
    Online,
    /// License 2.0: an activation code (授权码) the customer enters in the software; licd
    /// activates it with the marketplace (`/v1/codes/activate`) and binds a seat per device.
    Code,
}

impl Kind {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Classic => "classic",
            Kind::Online => "online",
            Kind::Code => "code",
        }
    }
}

/// Where a license stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In use.
    Active,
    /// Locked by the marketplace (expired or suspended); data kept, a renewal unfreezes it.
    Frozen,
    /// Released: terminal. The record and its history are kept; the id is revoked.
    Released,
}

impl Status {
    /// The lower-case name used in the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Frozen => "frozen",
            Status::Released => "released",
        }
    }
}

/// A license (the marketplace's "instance").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct License {
    /// The license id, which is the `instanceId` the marketplace knows it by.
    pub id: String,
    /// The integration that created it.
    pub kind: Kind,
    /// A `testFlag=1` record from the Seller Console's debug tool or a dial test.
    pub test: bool,
    /// Marketplace `customerId` (empty until known for online instances).
    pub customer: String,
    /// Marketplace `customerName`, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// Marketplace `productId` (changes when a renewal changes the period type).
    pub product: String,
    /// Marketplace `skuCode`.
    pub sku: String,
    /// The purchase order.
    pub order: String,
    /// The purchase order line (online activation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_line: Option<String>,
    /// Current state.
    pub status: Status,
    /// Seats / activations bought.
    pub quantity: u32,
    /// When the record was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Valid from.
    pub nbf: Timestamp,
    /// End of the paid period; [`PERPETUAL`] for one-off purchases.
    pub exp: Timestamp,
    /// 1 at issue, +1 on every renewal, freeze, unfreeze or reissue.
    pub revision: u32,
    /// Feature flags and limits carried in tokens.
    pub entitlements: Entitlements,
    /// The license string first returned for the purchase order: a repeated `getLicense` gets
    /// exactly these bytes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token: Option<String>,
    /// The newest token once a revision after the first was minted (see
    /// [`License::current_token`]); not stored twice while it equals `issued_token`, since the
    /// token is most of a record's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_token: Option<String>,
    /// Periodic goods (`chargingMode` `PERIOD` in the order): a device license needs an
    /// `expireTime` (`000902` otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub periodic: bool,
    /// When the marketplace's order query last filled in customer, product, quota and validity
    /// (online activation); `None` until it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_synced: Option<Timestamp>,
    /// Set once a renewal callback has stated the expiry (see [`License::validity_known`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renewed: bool,
    /// License 2.0: the activation code (授权码). A bearer secret: it is the record's key in the
    /// store's index and is shown to the ISV by the admin API, never put in a token, a
    /// revocation list, a metric or a log line (the license id is random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// License 2.0: when licd activated the code with the marketplace. `None` while the record
    /// only holds what callbacks said before any software activated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<Timestamp>,
    /// License 2.0: when the marketplace was last asked for the code's status (the daily check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<Timestamp>,
    /// The edition (the catalog entry's name) the license's entitlements come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
    /// Days a bound machine may go without refreshing (from the catalog); 0 = never required.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub check_in_days: u32,
    /// Whether the product's licenses are bound to devices (from the catalog).
    #[serde(default, skip_serializing_if = "is_optional_binding")]
    pub binding: BindingRule,
    /// The freeze window in days, when the catalog sets one for the product (else the
    /// daemon's `--freeze-days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_days: Option<u32>,
    /// When a callback last stated the expiry (a renewal or a refund) or, for a code, its state,
    /// by licd's clock: an order or code query asked for before then does not override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp_stated: Option<Timestamp>,
    /// Tokens of a revision below this one were superseded by a reissue: they neither activate
    /// nor refresh (a leaked or replaced license must not buy its way back in). 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_revision: u32,
    /// The marketplace's signed time of the newest state change applied (freeze, unfreeze,
    /// renewal, release): a callback signed earlier than this is stale and changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_signed: Option<Timestamp>,
    /// The same in Unix milliseconds, as precise as the marketplace signed it: two changes signed
    /// within one second still have an order. `None` in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_signed_ms: Option<i64>,
    /// License 2.0: what the marketplace's activation answer stated (or an admin's repair), kept
    /// the moment it arrived. Only the answer states product, order and quantity; the query
    /// that follows carries none, so an answer lost would be lost for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_answer: Option<CodeAnswer>,
    /// A floating product's lease terms (from the catalog): its seats are shared by leases,
    /// and its license token alone runs nothing ([`TokenStatus::Floating`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floating: Option<crate::catalog::Floating>,
    /// Site servers holding some of a floating license's seats ([`site`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<site::Site>,
    /// Issued by the ISV itself (`licctl licenses create`), not sold by the marketplace: its
    /// validity is the ISV's to extend, and no marketplace callback may change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<Direct>,
}

/// What a license the ISV issued itself carries beyond a marketplace license's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Direct {
    /// An evaluation: tokens say `origin: "trial"` until an extension converts it.
    pub trial: bool,
    /// The ISV's note (the deal, the prospect), for its own staff; never in a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Direct {
    /// The token claim `origin`: `trial` or `direct`.
    pub fn origin(&self) -> &'static str {
        if self.trial { "trial" } else { "direct" }
    }
}

/// A license the ISV issues itself, as asked for (`POST /admin/v1/licenses`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDirect {
    /// The customer's id in the ISV's own books.
    pub customer: String,
    /// The customer's name.
    pub customer_name: Option<String>,
    /// The product (the marketplace productId, so the catalog's terms apply).
    pub product: String,
    /// The SKU (the catalog's edition); may be empty.
    pub sku: String,
    /// End of the licensed period.
    pub exp: Timestamp,
    /// Seats (devices, or floating seats); `None`: the catalog entry's, else 1.
    pub seats: Option<u32>,
    /// An evaluation.
    pub trial: bool,
    /// The ISV's note.
    pub note: Option<String>,
}

/// How the id of a license the ISV issues starts (the rest is random); its `order` claim is
/// `direct-<id>`, which no marketplace order id looks like.
pub const DIRECT_ID_PREFIX: &str = "dl-";

/// When the marketplace signed a callback, in Unix milliseconds, as precise as it sent it (V1
/// `timeStamp` has milliseconds, V2 `timestamp` milliseconds or seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignedTime(i64);

impl SignedTime {
    /// At `millis` since the Unix epoch.
    pub fn from_millis(millis: i64) -> Self {
        SignedTime(millis)
    }

    /// At the start of second `t`.
    pub fn from_second(t: Timestamp) -> Self {
        SignedTime(t.unix().saturating_mul(1000))
    }

    /// Unix milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The second it falls in.
    pub fn second(self) -> Timestamp {
        Timestamp::from_unix(self.0.div_euclid(1000))
    }

    /// RFC 3339 with milliseconds, for the audit log.
    pub fn to_rfc3339(self) -> String {
        let s = self.second().to_rfc3339();
        match s.strip_suffix('Z') {
            Some(base) => format!("{base}.{:03}Z", self.0.rem_euclid(1000)),
            None => s,
        }
    }
}

/// What the marketplace's answer to a code activation stated (protocol §6.1), or what an admin
/// entered in its place (`licctl codes repair`) when it was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeAnswer {
    /// `product_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// `order_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `amount`: how many devices may use the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// The expiry it estimated (the query's is the truth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<Timestamp>,
    /// When it arrived or was entered.
    pub at: Timestamp,
    /// `marketplace`, or the admin who entered it.
    pub source: String,
}

impl CodeState {
    /// Fills what the query left out from what the activation answer stated.
    pub fn fill_from(&mut self, answer: &CodeAnswer) {
        self.exp = self.exp.or(answer.exp);
        self.product = self
            .product
            .take()
            .filter(|p| !p.is_empty())
            .or_else(|| answer.product.clone());
        self.order = self
            .order
            .take()
            .filter(|o| !o.is_empty())
            .or_else(|| answer.order.clone());
        self.quantity = self.quantity.filter(|&q| q > 0).or(answer.quantity);
    }

    /// What a code license cannot be minted without and this state lacks: `product`, `order`,
    /// `quantity` (the catalog's seats for the product stand in for a quantity not stated).
    pub fn missing(&self, catalog_seats: Option<u32>) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.product.as_deref().is_none_or(str::is_empty) {
            missing.push("product");
        }
        if self.order.as_deref().is_none_or(str::is_empty) {
            missing.push("order");
        }
        if self.quantity.filter(|&q| q > 0).or(catalog_seats).is_none() {
            missing.push("quantity");
        }
        missing
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_optional_binding(b: &BindingRule) -> bool {
    *b == BindingRule::Optional
}

/// A License 1.0 purchase (`getLicense`).
#[derive(Debug, Clone)]
pub struct NewPurchase {
    /// `orderId`: the idempotency key.
    pub order: String,
    /// `businessId` of this call: the instance id if this is the first call for the order.
    pub business_id: String,
    /// `customerId`.
    pub customer: String,
    /// `customerName`.
    pub customer_name: Option<String>,
    /// `productId`.
    pub product: String,
    /// `skuCode`.
    pub sku: String,
    /// `expireTime`; none for one-off purchases.
    pub exp: Option<Timestamp>,
    /// `amount`, default 1.
    pub quantity: u32,
}

impl From<crate::marketplace::GetLicense> for NewPurchase {
    fn from(g: crate::marketplace::GetLicense) -> Self {
        NewPurchase {
            order: g.order_id,
            business_id: g.business_id,
            customer: g.customer_id,
            customer_name: g.customer_name,
            product: g.product_id,
            sku: g.sku_code.unwrap_or_default(),
            exp: g.expire_time,
            quantity: g.quantity.unwrap_or(1),
        }
    }
}

impl License {
    /// A new License 1.0 license for `purchase`, revision 1, not yet minted.
    pub fn classic(id: &str, purchase: &NewPurchase, test: bool, now: Timestamp) -> License {
        let exp = purchase.exp.unwrap_or(PERPETUAL);
        License {
            customer: purchase.customer.clone(),
            customer_name: purchase.customer_name.clone(),
            product: purchase.product.clone(),
            sku: purchase.sku.clone(),
            quantity: purchase.quantity.max(1),
            nbf: now.min(exp),
            exp,
            ..License::blank(id, Kind::Classic, &purchase.order, test, now)
        }
    }

    /// A new license the ISV issues itself, revision 1, not yet minted: an unbound License 1.0
    /// token as far as activation, seats and refresh go, with `origin` in its claims.
    pub fn direct(id: &str, d: &NewDirect, now: Timestamp) -> License {
        License {
            customer: d.customer.clone(),
            customer_name: d.customer_name.clone(),
            product: d.product.clone(),
            sku: d.sku.clone(),
            quantity: d.seats.unwrap_or(1).max(1),
            nbf: now.min(d.exp),
            exp: d.exp,
            periodic: true,
            direct: Some(Direct {
                trial: d.trial,
                note: d.note.clone(),
            }),
            ..License::blank(id, Kind::Classic, &format!("direct-{id}"), false, now)
        }
    }

    /// The end of an extension by `days`, counted from the later of `now` and the current end:
    /// extending early loses nothing.
    pub fn end_after_days(&self, days: u32, now: Timestamp) -> Timestamp {
        self.exp
            .max(now)
            .add_secs(i64::from(days) * client_verifier::DAY)
    }

    /// Extends a license the ISV issued to `exp` (never shortens it), lifting a freeze; a trial
    /// becomes a paid license unless `still_trial`. Seats and bindings are kept: only the
    /// validity and the origin change. A marketplace license's validity is the marketplace's.
    pub fn extend(
        &mut self,
        exp: Timestamp,
        still_trial: bool,
        issuer: &Issuer<'_>,
        now: Timestamp,
    ) -> Result<Change, DomainError> {
        let Some(direct) = self.direct.as_mut() else {
            return Err(DomainError::MarketplaceValidity {
                id: self.id.clone(),
            });
        };
        direct.trial = direct.trial && still_trial;
        self.refuse_if_released("extension")?;
        self.exp = exp.max(self.exp);
        self.exp_stated = Some(now);
        if self.status == Status::Frozen && self.exp > now {
            self.status = Status::Active;
        }
        self.next_revision(issuer, now)?;
        Ok(Change::Changed)
    }

    /// A new online-activation instance for an order line. Customer, product, quota and
    /// validity come later from the order query: until then its expiry is the placeholder
    /// [`PERPETUAL`] (see [`License::validity_known`]).
    pub fn online(id: &str, order: &str, order_line: &str, test: bool, now: Timestamp) -> License {
        License {
            order_line: Some(order_line.to_string()),
            ..License::blank(id, Kind::Online, order, test, now)
        }
    }

    /// A License 2.0 code's record, created the first time licd hears of the code (a callback or
    /// an activation). Until the code is activated and queried it knows nothing else: its expiry
    /// is the placeholder [`PERPETUAL`].
    pub fn code(id: &str, code: &str, test: bool, now: Timestamp) -> License {
        License {
            code: Some(code.to_string()),
            ..License::blank(id, Kind::Code, "", test, now)
        }
    }

    /// Applies what the marketplace says of a code (its activation or its query), asked for at
    /// `requested`: product, order and quantity always; status and expiry only if no callback
    /// has stated them since (the newest statement wins). Returns whether anything changed.
    pub fn apply_code_state(
        &mut self,
        state: &CodeState,
        requested: Timestamp,
        issuer: &Issuer<'_>,
        now: Timestamp,
    ) -> Result<bool, DomainError> {
        let before = (
            self.status,
            self.exp,
            self.quantity,
            self.product.clone(),
            self.order.clone(),
        );
        if let Some(p) = state.product.as_deref().filter(|p| !p.is_empty()) {
            self.product = p.to_string();
        }
        if let Some(o) = state.order.as_deref().filter(|o| !o.is_empty()) {
            self.order = o.to_string();
        }
        if let Some(q) = state.quantity.filter(|&q| q > 0) {
            self.quantity = q;
        }
        if self.query_may_set_expiry(requested) {
            if let Some(exp) = state.exp {
                self.exp = exp.max(self.nbf);
            }
            if let Some(status) = state.status
                && self.status != Status::Released
            {
                self.status = status;
            }
        }
        self.checked = Some(now);
        let changed = before
            != (
                self.status,
                self.exp,
                self.quantity,
                self.product.clone(),
                self.order.clone(),
            );
        if changed && self.status != Status::Released {
            self.next_revision(issuer, now)?;
        }
        Ok(changed)
    }

    /// Whether the daily check of a code is due: activated and not asked about for
    /// `interval` seconds (a day, normally).
    pub fn code_check_due(&self, now: Timestamp, interval: i64) -> bool {
        self.kind == Kind::Code
            && self.activated.is_some()
            && self
                .checked
                .is_none_or(|c| now.unix() - c.unix() >= interval)
    }

    /// The license a site server serves, as its allotment `a` states it: the allotment's seats
    /// and validity, its entitlements and lease terms.
    pub fn of_allotment(a: &client_verifier::AllotmentClaims, now: Timestamp) -> License {
        let mut l = License::blank(&a.lic, Kind::Classic, "", false, now);
        l.product.clone_from(&a.product);
        l.sku.clone_from(&a.sku);
        l.quantity = a.seats;
        l.nbf = a.nbf;
        l.exp = a.exp;
        l.entitlements.clone_from(&a.entitlements);
        l.edition.clone_from(&a.edition);
        l.floating = Some(crate::catalog::Floating {
            lease_secs: a.lease_secs,
            linger_secs: a.linger_secs,
            borrow_max_days: a.borrow_max_days,
        });
        l
    }

    /// Revision 1 of an active license for `order` that knows nothing else yet.
    fn blank(id: &str, kind: Kind, order: &str, test: bool, now: Timestamp) -> License {
        License {
            id: id.to_string(),
            kind,
            test,
            customer: String::new(),
            customer_name: None,
            product: String::new(),
            sku: String::new(),
            order: order.to_string(),
            order_line: None,
            status: Status::Active,
            quantity: 1,
            created: now,
            updated: now,
            nbf: now,
            exp: PERPETUAL,
            revision: 1,
            entitlements: Entitlements::new(),
            issued_token: None,
            latest_token: None,
            periodic: false,
            order_synced: None,
            renewed: false,
            edition: None,
            check_in_days: 0,
            binding: BindingRule::Optional,
            freeze_days: None,
            code: None,
            activated: None,
            checked: None,
            exp_stated: None,
            min_revision: 0,
            last_signed: None,
            last_signed_ms: None,
            code_answer: None,
            floating: None,
            sites: Vec::new(),
            direct: None,
        }
    }
}

/// What the marketplace says of a License 2.0 code, in the domain's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeState {
    /// `ALIVE` → active, `EXPIRED` → frozen, `RELEASED` → released; `None` for anything else.
    pub status: Option<Status>,
    /// The expiry.
    pub exp: Option<Timestamp>,
    /// `product_id`.
    pub product: Option<String>,
    /// `order_id`.
    pub order: Option<String>,
    /// `amount`: how many devices may use it.
    pub quantity: Option<u32>,
}

impl CodeState {
    /// The status the marketplace names `status`.
    pub fn status_from(status: &str) -> Option<Status> {
        match status {
            "ALIVE" => Some(Status::Active),
            "EXPIRED" => Some(Status::Frozen),
            "RELEASED" => Some(Status::Released),
            _ => None,
        }
    }
}

/// What the issuer puts in every token, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct Issuer<'a> {
    /// `iss` claim.
    pub name: &'a str,
    /// The signing key.
    pub key: &'a SecretKey,
    /// Its certificate from the root, in rooted mode: the token carries it.
    pub certificate: Option<&'a client_verifier::Certificate>,
    /// Length of the freeze window after `exp`, in days.
    pub freeze_days: u32,
    /// Told of every token minted, so that the caller can keep a record of what it issued
    /// (licd records a digest of each: see [`minted_key`]).
    pub record: fn(&str),
}

/// The key under which licd records that it minted `token` (among the operations applied
/// once, whose keys never start with `minted`): a SHA-256 of the token, so the record holds
/// nothing a customer could use. After the root revokes a key, a token that key signed is
/// honoured only when its record exists: whoever stole the key can sign anything, but cannot
/// make licd have minted it.
pub fn minted_key(token: &str) -> String {
    use sha2::Digest;
    format!(
        "minted\0{}",
        crate::crypto::hex(&sha2::Sha256::digest(token.as_bytes()))
    )
}

/// Why an operation was refused. Each maps to a marketplace result code in the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The license was released; nothing but a repeated release applies to it.
    #[error("instance {id} was released; {action} does not apply to a released instance")]
    Released {
        /// The license id.
        id: String,
        /// What was attempted.
        action: &'static str,
    },
    /// An extension asked of a license the marketplace sold: its validity is the
    /// marketplace's (renewal callbacks), not the ISV's.
    #[error(
        "license {id} was sold on the marketplace: its validity follows the marketplace's renewals, and only licenses the ISV issued itself can be extended"
    )]
    MarketplaceValidity {
        /// The license id.
        id: String,
    },
    /// The token could not be minted (entitlements too long, or contradictory claims): the same
    /// call would fail the same way, so it is never answered as retryable.
    #[error("cannot mint a token for {id}: {reason}")]
    Mint {
        /// The license id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// Whether an operation changed the record (a repeated freeze, say, does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The record changed and must be written.
    Changed,
    /// Nothing to do: the call repeats one already applied.
    Unchanged,
}

impl License {
    /// Whether `exp` is the marketplace's word: a License 1.0 purchase, a renewal callback or a
    /// successful order query. An online instance whose order has not been read yet carries a
    /// placeholder ([`PERPETUAL`]) that must never reach a token: until then a device license's
    /// own validity is all that was sold to that device.
    pub fn validity_known(&self) -> bool {
        self.kind == Kind::Classic
            || self.renewed
            || self.order_synced.is_some()
            || self.activated.is_some()
    }

    /// How a repeated `getLicense` for this license's order differs from the purchase it was
    /// created from: (field, recorded, repeated). Product and expiry are compared only until a
    /// renewal has changed them.
    pub fn conflicts_with(&self, p: &NewPurchase) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        let mut check = |field, recorded: String, repeated: String| {
            if recorded != repeated {
                out.push((field, recorded, repeated));
            }
        };
        check("customerId", self.customer.clone(), p.customer.clone());
        check("skuCode", self.sku.clone(), p.sku.clone());
        check(
            "amount",
            self.quantity.to_string(),
            p.quantity.max(1).to_string(),
        );
        if !self.renewed {
            check("productId", self.product.clone(), p.product.clone());
            let exp = p.exp.unwrap_or(PERPETUAL);
            check("expireTime", self.exp.to_rfc3339(), exp.to_rfc3339());
        }
        out
    }

    /// Whether an order query asked for at `requested` may set the expiry: only when no
    /// callback has stated it since (the newest marketplace statement wins; a query of a
    /// refunded renewal order must not undo the refund).
    pub fn query_may_set_expiry(&self, requested: Timestamp) -> bool {
        self.exp_stated.is_none_or(|stated| requested > stated)
    }

    /// Whether a token of `revision` was superseded by a reissue.
    pub fn superseded(&self, revision: u32) -> bool {
        revision < self.min_revision
    }

    /// Whether a callback signed at `signed_at` is older than the newest change already applied:
    /// a replay from a log, or a delivery overtaken by a later statement. The newest statement
    /// wins; equal times are not stale. Compared to the millisecond when the record kept them
    /// (since hardening round 3), else to the second, as the record was written.
    pub fn is_stale(&self, signed_at: Option<SignedTime>) -> bool {
        let Some(t) = signed_at else { return false };
        match (self.last_signed_ms, self.last_signed) {
            (Some(last_ms), _) => t.millis() < last_ms,
            (None, Some(last)) => t.second() < last,
            (None, None) => false,
        }
    }

    /// Records the signed time of a change just applied.
    pub fn mark_signed(&mut self, signed_at: Option<SignedTime>) {
        if let Some(t) = signed_at {
            self.last_signed = Some(self.last_signed.map_or(t.second(), |l| l.max(t.second())));
            self.last_signed_ms = Some(
                self.last_signed_ms
                    .map_or(t.millis(), |l| l.max(t.millis())),
            );
        }
    }

    /// The token of the current revision, for clients that refresh.
    pub fn current_token(&self) -> Option<&str> {
        self.latest_token
            .as_deref()
            .or(self.issued_token.as_deref())
    }

    /// The end of the freeze window: the catalog's days for the product if it sets them, else
    /// `default_days`.
    pub fn freeze_until(&self, default_days: u32) -> Timestamp {
        if self.exp >= PERPETUAL {
            return self.exp;
        }
        let days = self.freeze_days.unwrap_or(default_days);
        self.exp.add_secs(i64::from(days) * client_verifier::DAY)
    }

    /// Takes what the catalog says of the license's product: entitlements, edition, check-in
    /// interval and freeze window (`None`: the product has no entry, so no entitlements).
    /// Returns whether anything changed. Issued tokens are never rewritten: a change reaches
    /// the customer with the next revision ([`License::adopt_entry`]).
    pub fn apply_entry(&mut self, entry: Option<&Entry>) -> bool {
        let none = Entitlements::new();
        let (entitlements, edition, check_in_days, freeze_days, binding, floating) = match entry {
            Some(e) => (
                &e.entitlements,
                Some(e.name.as_str()),
                e.check_in_days,
                e.freeze_days,
                e.binding,
                e.floating,
            ),
            None => (&none, None, 0, None, BindingRule::Optional, None),
        };
        // Compared first: a refresh of an unchanged license allocates nothing here.
        let changed = &self.entitlements != entitlements
            || self.edition.as_deref() != edition
            || self.check_in_days != check_in_days
            || self.freeze_days != freeze_days
            || self.binding != binding
            || self.floating != floating;
        if changed {
            self.floating = floating;
            self.entitlements = entitlements.clone();
            self.edition = edition.map(str::to_string);
            self.check_in_days = check_in_days;
            self.freeze_days = freeze_days;
            self.binding = binding;
        }
        changed
    }

    /// [`License::apply_entry`] for a license already issued: a change starts a new revision,
    /// so the next token the customer gets carries it. A released license is left alone.
    pub fn adopt_entry(
        &mut self,
        entry: Option<&Entry>,
        issuer: &Issuer<'_>,
        now: Timestamp,
    ) -> Result<bool, DomainError> {
        if self.status == Status::Released || !self.apply_entry(entry) {
            return Ok(false);
        }
        self.next_revision(issuer, now)?;
        Ok(true)
    }

    /// The claims of this license's current revision, bound to `binding` if given.
    pub fn claims(&self, issuer: &Issuer<'_>, now: Timestamp, binding: Option<Binding>) -> Claims {
        let mut c = Claims::new(
            issuer.name,
            self.customer.as_str(),
            self.id.as_str(),
            self.product.as_str(),
            self.sku.as_str(),
            self.order.as_str(),
            now,
            self.exp,
            self.freeze_until(issuer.freeze_days),
        );
        // A token may be minted before the paid period starts (online activation's
        // effectiveTime); iat never lies after nbf in a way the verifier would mind.
        c.nbf = self.nbf.min(self.exp);
        // A floating license's token is the credential that leases seats, not permission to
        // run: verifiers answer `LeaseRequired`, and those built before leases refuse it.
        c.status = match self.status {
            Status::Frozen => TokenStatus::Frozen,
            _ if self.floating.is_some() => TokenStatus::Floating,
            _ => TokenStatus::Active,
        };
        c.revision = self.revision;
        c.quantity = self.quantity;
        c.binding = binding;
        c.entitlements = self.entitlements.clone();
        c.edition.clone_from(&self.edition);
        c.origin = self.direct.as_ref().map(|d| d.origin().to_string());
        // Every token of a product with a check-in policy, bound or not, checks in (refreshes)
        // within the catalog's interval from when it was minted: an application that accepts
        // unbound tokens must not be able to skip it. The deadline never outlives the token.
        if self.check_in_days > 0 {
            let by = now.add_secs(i64::from(self.check_in_days) * client_verifier::DAY);
            c.check_in_by = Some(by.min(c.freeze_until));
        }
        c
    }

    /// Mints the token of the current revision.
    pub fn mint(
        &self,
        issuer: &Issuer<'_>,
        now: Timestamp,
        binding: Option<Binding>,
    ) -> Result<String, DomainError> {
        let claims = self.claims(issuer, now, binding);
        let token = match issuer.certificate {
            Some(cert) => client_verifier::mint_certified(issuer.key, cert, &claims),
            None => mint(issuer.key, &claims),
        }
        .map_err(|e| DomainError::Mint {
            id: self.id.clone(),
            reason: e.to_string(),
        })?;
        (issuer.record)(&token);
        Ok(token)
    }

    /// Sets a new absolute expiry (renewal, trial to formal, refund of a renewal period) and
    /// lifts a freeze: a renewal is what unfreezes a License 1.0 license (protocol §2 rule 5).
    pub fn renew(
        &mut self,
        exp: Timestamp,
        product: Option<&str>,
        issuer: &Issuer<'_>,
        now: Timestamp,
    ) -> Result<Change, DomainError> {
        self.refuse_if_released("renewal")?;
        self.exp = exp.max(self.nbf);
        self.renewed = true;
        self.exp_stated = Some(now);
        if let Some(p) = product.filter(|p| !p.is_empty()) {
            self.product = p.to_string();
        }
        if self.status == Status::Frozen && exp > now {
            self.status = Status::Active;
        }
        self.next_revision(issuer, now)?;
        Ok(Change::Changed)
    }

    /// Freezes (expiry or suspension by the marketplace). Freezing a frozen or released license
    /// changes nothing: the marketplace may repeat the call.
    pub fn freeze(&mut self, issuer: &Issuer<'_>, now: Timestamp) -> Result<Change, DomainError> {
        if self.status != Status::Active {
            return Ok(Change::Unchanged);
        }
        self.status = Status::Frozen;
        self.state_stated(now);
        self.next_revision(issuer, now)?;
        Ok(Change::Changed)
    }

    /// Unfreezes. Repeated, it changes nothing; a released license cannot be unfrozen.
    pub fn unfreeze(&mut self, issuer: &Issuer<'_>, now: Timestamp) -> Result<Change, DomainError> {
        self.refuse_if_released("unfreeze")?;
        if self.status == Status::Active {
            return Ok(Change::Unchanged);
        }
        self.status = Status::Active;
        self.state_stated(now);
        self.next_revision(issuer, now)?;
        Ok(Change::Changed)
    }

    /// A code's state was stated by a callback: a code query asked for before now does not
    /// undo it. (For the other kinds the order query never touches the state.)
    fn state_stated(&mut self, now: Timestamp) {
        if self.kind == Kind::Code {
            self.exp_stated = Some(now);
        }
    }

    /// Releases: terminal. The record stays (with its history) and its id goes on the
    /// revocation list; repeated, it changes nothing.
    pub fn release(&mut self, now: Timestamp) -> Change {
        if self.status == Status::Released {
            return Change::Unchanged;
        }
        self.status = Status::Released;
        self.updated = now;
        Change::Changed
    }

    /// Starts a new revision that supersedes every earlier token (a reissue for a replaced
    /// machine or a leaked token): tokens of older revisions no longer activate or refresh.
    pub fn reissue(&mut self, issuer: &Issuer<'_>, now: Timestamp) -> Result<(), DomainError> {
        self.refuse_if_released("reissue")?;
        self.next_revision(issuer, now)?;
        self.min_revision = self.revision;
        Ok(())
    }

    fn refuse_if_released(&self, action: &'static str) -> Result<(), DomainError> {
        if self.status == Status::Released {
            return Err(DomainError::Released {
                id: self.id.clone(),
                action,
            });
        }
        Ok(())
    }

    /// Sets the purchase of a code license whose activation answer was lost, from `answer` (an
    /// admin's repair): product, order and quantity, and the entitlements of `entry` (the
    /// catalog's for the product). Its status and expiry stay as the marketplace stated them; a
    /// license not released moves to a new revision so devices refresh into the right claims.
    pub fn repair_code_purchase(
        &mut self,
        answer: CodeAnswer,
        entry: Option<&Entry>,
        issuer: &Issuer<'_>,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.product = answer.product.clone().unwrap_or_default();
        self.order = answer.order.clone().unwrap_or_default();
        self.quantity = answer.quantity.unwrap_or(self.quantity).max(1);
        self.apply_entry(entry);
        self.code_answer = Some(answer);
        self.updated = now;
        if self.status != Status::Released {
            self.next_revision(issuer, now)?;
        }
        Ok(())
    }

    /// Bumps the revision and, for a License 1.0 license, mints its new token.
    fn next_revision(&mut self, issuer: &Issuer<'_>, now: Timestamp) -> Result<(), DomainError> {
        self.revision += 1;
        self.updated = now;
        if self.kind == Kind::Classic {
            self.latest_token = Some(self.mint(issuer, now, None)?);
        }
        Ok(())
    }
}

/// One seat of a License 1.0 license: the device that took it through `/v1/activate`.
///
/// Seats are numbered from 0 and never reused, so every binding gets its own salt and one can be
/// revoked (a replaced machine) without touching the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activation {
    /// The license.
    pub license_id: String,
    /// The seat number.
    pub seat: u32,
    /// The device binding ([`Binding::encode`]).
    pub binding: String,
    /// The bound token of revision `revision`.
    pub token: String,
    /// The license revision the token carries.
    pub revision: u32,
    /// When the device first activated.
    pub created: Timestamp,
    /// When the seat was freed (reissue); its binding is on the revocation list from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Timestamp>,
    /// License 2.0: the last UTC day (days since 1970) this device's use was reported to the
    /// marketplace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_day: Option<i64>,
    /// Air-gapped activation: the device public key (base64url) that made the request and alone
    /// can sign this seat's deactivation receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
    /// This seat was taken after the customer gave one back: it counts against the catalog's
    /// `transfers_per_year`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transfer: bool,
    /// The customer gave this seat back with a deactivation receipt (`revoked` says when); a
    /// seat freed by the seller (reissue) is not a transfer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
}

impl Activation {
    /// Whether this seat's binding names more than one disk or mainboard value, which a verifier
    /// built before the one-machine rule accepts on several machines (see
    /// [`Binding::spans_machines_in_old_verifiers`]).
    pub fn wide_binding(&self) -> bool {
        Binding::decode(&self.binding).is_some_and(|b| b.spans_machines_in_old_verifiers())
    }

    /// The id this seat is reported under in usage statistics: stable, and telling the
    /// marketplace nothing about the device.
    pub fn client_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"licd-usage-client-v1\0")
            .chain_update(self.license_id.as_bytes())
            .chain_update(self.seat.to_le_bytes())
            .finalize();
        crate::crypto::hex(&digest[..12])
    }

    /// The binding salt of seat `seat` of license `license_id`.
    pub fn salt(license_id: &str, seat: u32) -> [u8; 8] {
        binding_salt(license_id, &format!("seat-{seat}"))
    }
}

/// A device-bound token minted for an online-activation `getLicenseAsync` request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceLicense {
    /// The instance (license) it belongs to.
    pub license_id: String,
    /// The marketplace's request serial number.
    pub event_id: String,
    /// The device fingerprint as sent.
    pub fingerprint: String,
    /// The token.
    pub token: String,
    /// Valid from (`effectiveTime`).
    pub nbf: Timestamp,
    /// Valid until (`expireTime`, or [`PERPETUAL`]).
    pub exp: Timestamp,
    /// When it was minted.
    pub created: Timestamp,
    /// When a reissue retired this device; its binding is on the revocation list from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Timestamp>,
}

impl DeviceLicense {
    /// Whether the fingerprint this device token was minted for names more than one disk or
    /// mainboard value (as [`Activation::wide_binding`]). Read from the fingerprint as sent, so
    /// it also lists a token minted since the fix whose extra mainboard values were left out.
    pub fn wide_binding(&self) -> bool {
        Fingerprint::parse(&self.fingerprint)
            .is_ok_and(|f| Binding::new(&f, [0; 8]).spans_machines_in_old_verifiers())
    }
}

/// The key under which an operation that must apply once (a renewal order, an upgrade order)
/// is recorded as applied. Keys are a stored format: each is spelled out here from explicit
/// strings (never from `Debug` output, which a renamed variant would silently change), and a
/// key format that was ever written stays readable through [`OnceKey::all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceKey {
    key: String,
    legacy: Option<String>,
}

impl OnceKey {
    /// A License 1.0 renewal (`refreshLicense`): once per renewal order.
    pub fn renewal(license: &str, order: &str) -> Self {
        OnceKey {
            key: format!("renew\0{license}\0{order}"),
            legacy: None,
        }
    }

    /// An online-activation renewal (`refreshInstance`): once per order line and scene.
    /// `scene` is the marketplace's name (`RENEWAL`, …).
    pub fn instance_renewal(license: &str, order: &str, line: &str, scene: &str) -> Self {
        // Written until 0.1 with the scene's Rust variant name; read for databases made then.
        let legacy = match scene {
            "TRIAL_TO_FORMAL" => Some("TrialToFormal"),
            "RENEWAL" => Some("Renewal"),
            "UNSUBSCRIBE_RENEWAL_PERIOD" => Some("UnsubscribeRenewalPeriod"),
            "RENEWAL_CHANGE" => Some("RenewalChange"),
            _ => None,
        };
        OnceKey {
            key: format!("renew\0{license}\0{order}\0{line}\0scene:{scene}"),
            legacy: legacy.map(|l| format!("renew\0{license}\0{order}\0{line}\0{l}")),
        }
    }

    /// An upgrade (`upgradeInstance`): once per upgrade order line.
    pub fn upgrade(license: &str, order: &str, line: &str) -> Self {
        OnceKey {
            key: format!("upgradeInstance\0{license}\0{order}\0{line}"),
            legacy: None,
        }
    }

    /// The key recorded when the operation is applied.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Every key that means "already applied": the current one and an earlier spelling.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.legacy.as_deref())
    }
}

/// The window `transfers_per_year` counts in.
pub const TRANSFER_WINDOW_DAYS: i64 = 365;

/// Where a license stands with its transfers: seats the customer gave back (a deactivation
/// receipt) and took again. One place decides what counts; activation and deactivation ask it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfers {
    /// Transfers made in the last [`TRANSFER_WINDOW_DAYS`] days.
    pub used: u32,
    /// The catalog's `transfers_per_year`.
    pub limit: u32,
    /// Seats given back and not taken again yet: the next seat taken is a transfer.
    pub pending: u32,
}

impl Transfers {
    /// Counts `seats` (every seat the license ever had) at `now`.
    pub fn count(seats: &[Activation], limit: u32, now: Timestamp) -> Self {
        let since = now.add_secs(-TRANSFER_WINDOW_DAYS * client_verifier::DAY);
        let n = |f: &dyn Fn(&Activation) -> bool| {
            u32::try_from(seats.iter().filter(|a| f(a)).count()).unwrap_or(u32::MAX)
        };
        let given_back = n(&|a| a.deactivated);
        let retaken = n(&|a| a.transfer);
        Transfers {
            used: n(&|a| a.transfer && a.created > since),
            limit,
            pending: given_back.saturating_sub(retaken),
        }
    }

    /// Whether the next seat taken is a transfer.
    pub fn next_is_transfer(&self) -> bool {
        self.pending > 0
    }

    /// Whether a seat may be taken now: it is not a transfer, or one is left.
    pub fn may_take(&self) -> bool {
        !self.next_is_transfer() || self.used < self.limit
    }

    /// Whether the customer may give a seat back: taking it again would still be within the
    /// limit. Refusing here, before the seat is freed, is what keeps a customer from giving a
    /// seat back that nothing could then take.
    pub fn may_give_back(&self) -> bool {
        self.used.saturating_add(self.pending) < self.limit
    }
}

/// A per-license salt for device binding, derived from the license id so that minting again for
/// the same request gives the same bytes.
pub fn binding_salt(license_id: &str, event_id: &str) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"licd-binding-salt-v1\0");
    h.update(license_id.as_bytes());
    h.update([0]);
    h.update(event_id.as_bytes());
    let digest = h.finalize();
    let mut salt = [0u8; 8];
    salt.copy_from_slice(&digest[..8]);
    salt
}

/// A License 1.0 purchase of order `order` (instance `business_id`, product P1, one seat, until
/// 2027), for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn sample_purchase(order: &str, business_id: &str) -> NewPurchase {
    NewPurchase {
        order: order.into(),
        business_id: business_id.into(),
        customer: "cust".into(),
        customer_name: None,
        product: "P1".into(),
        sku: "S1".into(),
        exp: Timestamp::parse_rfc3339("2027-01-01T00:00:00Z"),
        quantity: 1,
    }
}

/// A License 1.0 record for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn sample(id: &str, status: Status) -> License {
    let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap_or(Timestamp::from_unix(0));
    let mut l = License::classic(
        id,
        &sample_purchase("O1", id),
        false,
        t("2026-01-01T00:00:00Z"),
    );
    l.status = status;
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn license() -> License {
        sample("lic-1", Status::Active)
    }

    fn issuer(key: &SecretKey) -> Issuer<'_> {
        Issuer {
            name: "acme",
            key,
            certificate: None,
            freeze_days: 15,
            record: |_| {},
        }
    }

    fn seat(created: &str, transfer: bool, deactivated: bool) -> Activation {
        Activation {
            license_id: "lic-1".into(),
            seat: 0,
            binding: String::new(),
            token: String::new(),
            revision: 1,
            created: t(created),
            revoked: deactivated.then(|| t(created)),
            reported_day: None,
            device_key: None,
            transfer,
            deactivated,
        }
    }

    #[test]
    fn transfers_count_give_backs_retaken_within_the_window() {
        let now = t("2027-06-01T00:00:00Z");
        // Nothing given back: nothing is a transfer, and one may be given back.
        let t0 = Transfers::count(&[seat("2027-01-01T00:00:00Z", false, false)], 1, now);
        assert!(!t0.next_is_transfer() && t0.may_take() && t0.may_give_back());
        // Given back once: the next seat is a transfer, the last one allowed.
        let given = [seat("2027-01-01T00:00:00Z", false, true)];
        let t1 = Transfers::count(&given, 1, now);
        assert!(t1.next_is_transfer() && t1.may_take() && !t1.may_give_back());
        // Taken again: used up; nothing more may be given back or taken as a transfer.
        let retaken = [given[0].clone(), seat("2027-05-01T00:00:00Z", true, false)];
        let t2 = Transfers::count(&retaken, 1, now);
        assert_eq!((t2.used, t2.pending), (1, 0));
        assert!(!t2.may_give_back() && t2.may_take());
        // A year on, that transfer has left the window.
        let later = Transfers::count(&retaken, 1, t("2028-05-02T00:00:00Z"));
        assert_eq!(later.used, 0);
        assert!(later.may_give_back());
        // A limit of 0 forbids giving seats back at all.
        assert!(!Transfers::count(&[], 0, now).may_give_back());
    }

    #[test]
    fn renewal_unfreezes_and_bumps_revision() {
        let key = SecretKey::from_seed(&[1; 32]);
        let mut l = license();
        let now = t("2027-01-05T00:00:00Z");
        assert_eq!(l.freeze(&issuer(&key), now), Ok(Change::Changed));
        assert_eq!(l.status, Status::Frozen);
        assert_eq!(l.freeze(&issuer(&key), now), Ok(Change::Unchanged));
        l.renew(t("2028-01-01T00:00:00Z"), Some("P2"), &issuer(&key), now)
            .unwrap();
        assert_eq!(l.status, Status::Active);
        assert_eq!(l.revision, 3);
        assert_eq!(l.product, "P2");
        assert_ne!(l.current_token(), None);
        assert_ne!(l.current_token(), l.issued_token.as_deref());
    }

    #[test]
    fn an_order_query_sets_the_expiry_only_if_asked_for_after_the_last_statement() {
        let key = SecretKey::from_seed(&[1; 32]);
        let mut l = license();
        assert!(
            l.query_may_set_expiry(t("2027-01-01T00:00:00Z")),
            "nothing stated yet"
        );
        let refund_at = t("2027-02-01T00:00:00Z");
        l.renew(t("2027-06-01T00:00:00Z"), None, &issuer(&key), refund_at)
            .unwrap();
        assert_eq!(
            l.exp,
            t("2027-06-01T00:00:00Z"),
            "an earlier expiry is applied"
        );
        assert!(!l.query_may_set_expiry(t("2027-01-15T00:00:00Z")));
        assert!(
            !l.query_may_set_expiry(refund_at),
            "the query the refund itself asked for"
        );
        assert!(l.query_may_set_expiry(t("2027-02-01T00:00:01Z")));
    }

    #[test]
    fn a_catalog_change_is_a_new_revision_and_never_reaches_a_released_license() {
        let key = SecretKey::from_seed(&[1; 32]);
        let now = t("2027-01-05T00:00:00Z");
        let catalog = crate::catalog::Catalog::parse(
            "[[product]]\nid = \"P\"\nname = \"Pro\"\nfreeze_days = 3\n[product.entitlements]\nx = 1\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let entry = catalog.lookup("P", "").entry();
        let mut l = license();
        assert_eq!(l.adopt_entry(entry, &issuer(&key), now), Ok(true));
        assert_eq!((l.revision, l.edition.as_deref()), (2, Some("Pro")));
        assert_eq!(l.claims(&issuer(&key), now, None).entitlements["x"], 1);
        assert_eq!(l.freeze_until(15), l.exp.add_secs(3 * client_verifier::DAY));
        // Unchanged: no new revision.
        assert_eq!(l.adopt_entry(entry, &issuer(&key), now), Ok(false));
        assert_eq!(l.revision, 2);
        // Taken out of the catalog: back to nothing, as a new revision.
        assert_eq!(l.adopt_entry(None, &issuer(&key), now), Ok(true));
        assert!(l.entitlements.is_empty() && l.edition.is_none());
        l.release(now);
        assert_eq!(l.adopt_entry(entry, &issuer(&key), now), Ok(false));
    }

    #[test]
    fn a_repeated_purchase_names_what_differs() {
        let p = NewPurchase {
            exp: Some(t("2099-01-01T00:00:00Z")),
            ..sample_purchase("CS1", "b-1")
        };
        let mut l = License::classic("b-1", &p, false, t("2027-01-01T00:00:00Z"));
        assert!(l.conflicts_with(&p).is_empty());
        let other = NewPurchase {
            product: "P-other".into(),
            quantity: 3,
            ..p.clone()
        };
        let fields: Vec<&str> = l.conflicts_with(&other).iter().map(|c| c.0).collect();
        assert_eq!(fields, ["amount", "productId"]);
        // After a renewal, product and expiry are the renewal's; the purchase's no longer count.
        l.renewed = true;
        let fields: Vec<&str> = l.conflicts_with(&other).iter().map(|c| c.0).collect();
        assert_eq!(fields, ["amount"]);
    }

    #[test]
    fn released_license_refuses_renewal_and_unfreeze() {
        let key = SecretKey::from_seed(&[1; 32]);
        let mut l = license();
        let now = t("2026-06-01T00:00:00Z");
        assert_eq!(l.release(now), Change::Changed);
        assert_eq!(l.release(now), Change::Unchanged);
        let before = l.clone();
        assert!(matches!(
            l.renew(t("2028-01-01T00:00:00Z"), None, &issuer(&key), now),
            Err(DomainError::Released { .. })
        ));
        assert!(l.unfreeze(&issuer(&key), now).is_err());
        assert_eq!(l.freeze(&issuer(&key), now), Ok(Change::Unchanged));
        assert_eq!(l, before, "a refused call changes nothing");
    }

    #[test]
    fn once_keys_are_spelled_out_and_read_the_format_written_before() {
        assert_eq!(OnceKey::renewal("i", "o").key(), "renew\0i\0o");
        let k = OnceKey::instance_renewal("i", "o", "l", "RENEWAL");
        assert_eq!(k.key(), "renew\0i\0o\0l\0scene:RENEWAL");
        // What 0.1 wrote for the same call (`format!("{:?}", scene)`), spelled out.
        assert_eq!(k.all().collect::<Vec<_>>()[1], "renew\0i\0o\0l\0Renewal");
        let refund = OnceKey::instance_renewal("i", "o", "l", "UNSUBSCRIBE_RENEWAL_PERIOD");
        assert!(
            refund
                .all()
                .any(|k| k.ends_with("\0UnsubscribeRenewalPeriod"))
        );
        assert_eq!(
            OnceKey::upgrade("i", "o", "l").key(),
            "upgradeInstance\0i\0o\0l"
        );
    }

    #[test]
    fn freeze_window_follows_exp_and_perpetual_stays_perpetual() {
        let mut l = license();
        assert_eq!(l.freeze_until(15), t("2027-01-16T00:00:00Z"));
        l.exp = PERPETUAL;
        assert_eq!(l.freeze_until(15), PERPETUAL);
        assert_eq!(PERPETUAL.to_rfc3339(), "9999-01-01T00:00:00Z");
    }
}
