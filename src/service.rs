//! The operations behind the marketplace callbacks: look up, decide, commit, flush.
//!
//! Idempotency lives here. Every change goes through `Service::transact`: it takes the write
//! lock, lets the operation read what the store has and decide (with the domain), commits the
//! whole outcome as one batch, and returns only after the store's flush, so an acknowledged
//! change is on disk. Concurrent identical calls serialise on the lock, and the second one finds
//! what the first wrote: 50 identical `getLicense` calls in flight create one license. The lock
//! covers only in-memory work; the disk flush happens outside it and is shared by every caller
//! waiting at the same moment.

mod accounts;
mod callbacks;
mod codes;
mod delivery;
mod direct;
mod events;
mod facts;
mod keys;
mod leases;
mod offline;
mod portal;
mod queries;
mod reason;
mod seats;
mod sites;

use std::sync::Arc;

use client_verifier::{Binding, Fingerprint, PublicKey, SecretKey, Timestamp};
use serde_json::json;
use tokio::sync::Notify;

pub use crate::license::NewPurchase;
pub use accounts::{SignInError, SignedIn, TokenView, UserView};
pub use callbacks::Outcome;
pub use codes::{CodeRepair, CodeSeat};
pub use events::EventPage;
pub use facts::{StoreFacts, store_facts};
pub use keys::Resigned;
pub use leases::{
    Granted, LeaseCredential, LeaseRequest, MAX_INSTANCE_CHARS, Occupancy, license_of_lease,
};
pub use offline::{Deactivated, OfflineSeat};
pub use portal::{NOT_OPENED, PortalAccess, PortalScope, PortalView};
pub use queries::{AuditTrail, Dashboard, Gauges, LicenseDetail, LicenseFilter, LicensePage};
pub use reason::{MAX_REASON_CHARS, Need, Reason};
pub use seats::{Refreshed, Reissued, Seat};
pub use sites::{Allotment, SiteReturned};

use crate::catalog::{Catalog, Entry, Lookup};
use crate::job::{Job, Task};
use crate::market_api::MarketplaceApi;

use crate::license::{
    Change, DeviceLicense, DomainError, Issuer, License, OnceKey, PERPETUAL, Status, binding_salt,
};
use crate::store::{AuditEvent, Batch, DeviceKey, OrderKey, Store, StoreError, Tx};

/// Why an operation was refused, in the service's terms; the HTTP layer maps each to a result
/// code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No license with that instance id.
    #[error("instance {0} not found")]
    NotFound(String),
    /// No outbox job with that id.
    #[error("outbox job {0} not found")]
    JobNotFound(String),
    /// The domain refused (released license, token too long).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A device license was asked for without the fingerprint the product requires.
    #[error("deviceFingerprint: required for a device-bound license")]
    FingerprintRequired,
    /// A device license was asked for on a frozen or released instance, or outside its validity.
    #[error("{0}")]
    OutsideValidity(String),
    /// A device license for periodic goods came without `expireTime`.
    #[error("expireTime: required for a periodic license (the order is charged by period)")]
    ExpiryRequired,
    /// Every device license the order pays for is taken.
    #[error(
        "instance {instance}: the order's quota of {quota} device(s) is used up; free one with `licctl licenses reissue {instance}`"
    )]
    QuotaExhausted {
        /// The instance.
        instance: String,
        /// Devices the order pays for.
        quota: u32,
    },
    /// Every seat of a License 1.0 license is taken by another device.
    #[error(
        "license {license}: all {quantity} activation(s) are in use by other devices; the seller can free them with `licctl licenses reissue {license}`"
    )]
    SeatsTaken {
        /// The license.
        license: String,
        /// Seats bought.
        quantity: u32,
    },
    /// The customer has given seats back and taken them again as often as the catalog allows
    /// (`transfers_per_year`, counted over the last 365 days).
    #[error(
        "license {license}: its {limit} device transfer(s) in the last 365 days are used ({used} made); the seat stays where it is. Contact the seller to move it"
    )]
    TransfersExhausted {
        /// The license.
        license: String,
        /// Transfers made in the window.
        used: u32,
        /// Transfers allowed.
        limit: u32,
    },
    /// A deactivation receipt for a seat already given back.
    #[error("license {license}: seat {seat} was already given back")]
    AlreadyDeactivated {
        /// The license.
        license: String,
        /// The seat.
        seat: u32,
    },
    /// A site asked for more seats than online leases and other sites leave.
    #[error(
        "license {license}: {left} seat(s) are left for a site (online leases and other sites hold the rest); asked for {asked} (0: all that are left)"
    )]
    SiteSeats {
        /// The license.
        license: String,
        /// Seats asked for.
        asked: u32,
        /// Seats left.
        left: u32,
    },
    /// The license (or this device's binding of it) was revoked or released.
    #[error("license {0} has been revoked")]
    Revoked(String),
    /// Every seat of a floating license is held by a lease.
    #[error(
        "license {license}: all {seats} seat(s) are in use ({in_use} leased); the next frees at {next_free_at}"
    )]
    LeasesFull {
        /// The license.
        license: String,
        /// Its seats.
        seats: u32,
        /// Leases holding a seat.
        in_use: u32,
        /// When the first of them frees its seat.
        next_free_at: Timestamp,
        /// The store's time of the decision (for `Retry-After`).
        now: Timestamp,
    },
    /// A lease cannot be renewed (or a seat leased) for good: `why` is `released`,
    /// `force_released`, `expired`, `frozen` or `revoked`.
    #[error("{message}")]
    LeaseEnded {
        /// The lease (empty when the license itself refuses).
        lease: String,
        /// Why, as a stable word.
        why: &'static str,
        /// What the user should know.
        message: String,
    },
    /// The token is an older revision of a license that was reissued since: only the reissued
    /// token activates and refreshes.
    #[error(
        "license {license}: this token (revision {revision}) was replaced when the license was reissued; use the license the seller sent after the reissue"
    )]
    Superseded {
        /// The license.
        license: String,
        /// The revision of the token presented.
        revision: u32,
    },
    /// The request is well-formed but its values cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The marketplace cannot be asked now (unreachable, failing, or its API not configured):
    /// nothing was changed, and the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// The marketplace refused a License 2.0 code for good.
    #[error("{message}")]
    CodeRefused {
        /// Why, in the marketplace's terms.
        kind: CodeRefusal,
        /// What the user should know.
        message: String,
    },
    /// Another request is doing the same thing right now (another device activating the same
    /// code, on this node or another): nothing was changed; the same request in `retry_after`
    /// seconds finds it done.
    #[error("{message}")]
    Busy {
        /// What the user should know.
        message: String,
        /// Seconds to wait before trying again.
        retry_after: u32,
    },
    /// Too many requests from this client address, or from everyone, for something that costs
    /// the marketplace a call: nothing was changed; try again after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests {
        /// What the user should know.
        message: String,
        /// Seconds to wait before trying again.
        retry_after: u32,
    },
    /// A License 2.0 code whose purchase (product, order, quantity) licd cannot know: the
    /// marketplace's activation answer, the only place that states them, was lost. Nothing is
    /// minted until the ISV enters them (`licctl codes repair`).
    #[error(
        "license {license}: the purchase details of this activation code ({missing}) are not known to the seller's server yet; the seller has been told, try again later"
    )]
    CodeIncomplete {
        /// The license.
        license: String,
        /// What is missing, comma-separated.
        missing: String,
    },
    /// The caller's role may not do this ([`crate::accounts::Role::may`]).
    #[error(transparent)]
    Forbidden(#[from] crate::accounts::Forbidden),
    /// Storage failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// Whether the refusal comes from the state of things (an unknown, released, revoked or
    /// frozen license, a used-up quota, a validity window), not from the request itself or
    /// from storage.
    pub fn is_state_refusal(&self) -> bool {
        match self {
            ServiceError::NotFound(_)
            | ServiceError::OutsideValidity(_)
            | ServiceError::QuotaExhausted { .. }
            | ServiceError::SeatsTaken { .. }
            | ServiceError::SiteSeats { .. }
            | ServiceError::TransfersExhausted { .. }
            | ServiceError::AlreadyDeactivated { .. }
            | ServiceError::Revoked(_)
            | ServiceError::LeasesFull { .. }
            | ServiceError::LeaseEnded { .. }
            | ServiceError::Superseded { .. } => true,
            ServiceError::Domain(e) => matches!(e, DomainError::Released { .. }),
            ServiceError::JobNotFound(_)
            | ServiceError::Unavailable(_)
            | ServiceError::Busy { .. }
            | ServiceError::TooManyRequests { .. }
            | ServiceError::CodeIncomplete { .. }
            | ServiceError::CodeRefused { .. }
            | ServiceError::FingerprintRequired
            | ServiceError::ExpiryRequired
            | ServiceError::Invalid(_)
            | ServiceError::Forbidden(_)
            | ServiceError::Store(_) => false,
        }
    }
}

/// Why the marketplace refused a License 2.0 code ([`ServiceError::CodeRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No such code.
    UnknownCode,
    /// Not delivered to the customer yet.
    NotDelivered,
    /// The marketplace has no activation of it.
    NotActivated,
    /// Malformed.
    InvalidCode,
    /// Refused for another reason.
    Refused,
}

impl CodeRefusal {
    /// The stable name clients see (`error` in the API's answer).
    pub fn as_str(self) -> &'static str {
        match self {
            CodeRefusal::UnknownCode => "unknown_code",
            CodeRefusal::NotDelivered => "not_delivered",
            CodeRefusal::NotActivated => "not_activated",
            CodeRefusal::InvalidCode => "invalid_code",
            CodeRefusal::Refused => "refused",
        }
    }

    /// Whether the customer can act on it (a code mistyped or not yet delivered), rather than
    /// the ISV.
    pub fn is_customers(self) -> bool {
        self != CodeRefusal::Refused
    }
}

/// Activations of License 2.0 codes with the marketplace at once; more wait outside (503).
const MAX_CODE_ACTIVATIONS: usize = 4;

/// Code activations that call the marketplace, per client address (an IPv6 /64): 5 at once,
/// then one every 10 s. A site activating many machines calls the marketplace once per code, so
/// this only holds back a client trying many different codes. Small enough that a few attacking
/// addresses cannot use up the total below for more than a few seconds.
const CODE_ACTIVATIONS_PER_CLIENT: crate::ratelimit::Budget = crate::ratelimit::Budget {
    burst: 5,
    every: std::time::Duration::from_secs(10),
};

/// The same from everyone together: 30 at once, then 5 a second.
const CODE_ACTIVATIONS_IN_TOTAL: crate::ratelimit::Budget = crate::ratelimit::Budget {
    burst: 30,
    every: std::time::Duration::from_millis(200),
};

/// Settings the service needs from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of every token.
    pub issuer: String,
    /// Freeze window after `exp`, in days.
    pub freeze_days: u32,
    /// Whether `getLicenseAsync` without a fingerprint is refused (`000903`).
    pub require_fingerprint: bool,
    /// Non-empty components (of the four) a fingerprint needs for a binding made through the
    /// public client API (`/v1/activate`); 0 also admits opaque fingerprints there.
    pub min_fingerprint_components: u8,
}

/// Who asked: recorded in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The activity or admin action.
    pub action: &'a str,
    /// `testFlag=1`.
    pub test: bool,
    /// The time the marketplace signed the callback with (V1 `timeStamp`, V2 `timestamp`):
    /// a state change signed before the newest one applied is stale. `None` for callers
    /// without one.
    pub signed_at: Option<crate::license::SignedTime>,
}

impl Caller<'_> {
    fn actor(&self) -> &'static str {
        if self.test {
            "marketplace-test"
        } else {
            "marketplace"
        }
    }
}

/// An online-activation device license request (`getLicenseAsync`).
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    /// `instanceId`.
    pub instance: String,
    /// `eventId`.
    pub event: String,
    /// `deviceFingerprint`.
    pub fingerprint: Option<String>,
    /// `effectiveTime`.
    pub nbf: Timestamp,
    /// `expireTime`.
    pub exp: Option<Timestamp>,
}

/// The license service.
/// New leases one license may take: 120 at once, then 2 a second (renewals are not counted).
/// Enough for a site starting every program at 8 a.m.; a loop of lease and release is slowed to
/// what the audit log can keep.
const LEASE_GRANTS: crate::ratelimit::Budget = crate::ratelimit::Budget {
    burst: 120,
    every: std::time::Duration::from_millis(500),
};

/// What a service in site mode signs with ([`Service::with_site`]).
#[derive(Debug)]
struct SiteMode {
    allotment: String,
    terms: client_verifier::AllotmentClaims,
}

/// Site allotments per license: a plant renews monthly or so; ten at once covers a setup
/// retried, then one a minute.
const SITE_ALLOTS: crate::ratelimit::Budget = crate::ratelimit::Budget {
    burst: 10,
    every: std::time::Duration::from_secs(60),
};

pub struct Service {
    store: Arc<dyn Store>,
    key: Arc<SecretKey>,
    settings: Settings,
    api: Option<MarketplaceApi>,
    outbox_wake: Arc<Notify>,
    trusted: Vec<PublicKey>,
    /// Codes whose daily check is being asked right now (one query per code at a time).
    code_checks: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Activations with the marketplace in flight: anyone may send a code to activate, and each
    /// costs a call signed with the ISV's AK/SK, so only a few run at once.
    code_activations: tokio::sync::Semaphore,
    /// This node's turn-taking locks of codes being activated, by claim key.
    code_gates: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Code activations that would call the marketplace, per client address and in total.
    code_limits: crate::ratelimit::ClientLimits,
    /// Lines a client's request makes the service write, beyond the first of a burst.
    client_log: crate::logsafe::RefusalLimiter,
    /// When each code's next check is due (unix seconds), so that a refresh between checks
    /// costs no extra store read.
    code_due: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Seconds between two checks of a code with the marketplace (a day unless configured).
    code_check_secs: i64,
    /// The product catalog; replaced whole on a reload.
    catalog: std::sync::RwLock<Arc<Catalog>>,
    /// Purchases of products the catalog does not list, by product (for the metric).
    unlisted: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// New leases per license: a customer cycling lease and release cannot grow the audit log
    /// without bound.
    lease_grants: crate::ratelimit::KeyedLimits,
    /// Lease requests refused because every seat was taken, by product (for the metric).
    lease_refusals: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// The next id of a seeded sequence, when new ids are not random
    /// ([`Service::with_seeded_ids`]).
    seeded_ids: Option<std::sync::atomic::AtomicU64>,
    /// The signing key's certificate from the root (rooted mode): every token carries it.
    certificate: Option<Arc<client_verifier::Certificate>>,
    /// The root documents, oldest first, that lead an application to the trusted root.
    root_chain: Vec<String>,
    /// The root's statement of revoked issuing keys, served with the revocation list.
    key_revocations: Option<String>,
    /// Site allotments per license: each writes the license and an audit record, and anyone
    /// holding a site request may send it again and again.
    site_allots: crate::ratelimit::KeyedLimits,
    /// Site mode (`licd site serve`): the allotment every lease carries, and its terms.
    site: Option<Arc<SiteMode>>,
    /// The keys it revokes: a token one of them signed is honoured only if licd minted it.
    revoked_keys: Vec<String>,
    /// Woken after every commit that added audit records: the event feed's long polls and the
    /// webhook senders wait on it (and poll, for commits of other nodes).
    events_wake: Arc<Notify>,
    /// The webhook endpoints and this node's delivery counts.
    webhooks: Arc<crate::webhooks::Hub>,
    /// Readers of the event feed waiting for an event now.
    feed_waits: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("key", &self.key.public_key().id())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `store`, signing with `key`.
    pub fn new(store: Arc<dyn Store>, key: Arc<SecretKey>, settings: Settings) -> Self {
        Service {
            store,
            settings,
            api: None,
            outbox_wake: Arc::new(Notify::new()),
            trusted: vec![key.public_key().clone()],
            code_checks: std::sync::Mutex::default(),
            code_due: std::sync::Mutex::default(),
            code_activations: tokio::sync::Semaphore::new(MAX_CODE_ACTIVATIONS),
            code_gates: std::sync::Mutex::default(),
            code_limits: crate::ratelimit::ClientLimits::new(
                CODE_ACTIVATIONS_PER_CLIENT,
                CODE_ACTIVATIONS_IN_TOTAL,
            ),
            client_log: crate::logsafe::RefusalLimiter::default(),
            code_check_secs: client_verifier::DAY,
            catalog: std::sync::RwLock::default(),
            unlisted: std::sync::Mutex::default(),
            lease_refusals: std::sync::Mutex::default(),
            lease_grants: crate::ratelimit::KeyedLimits::new(LEASE_GRANTS),
            site_allots: crate::ratelimit::KeyedLimits::new(SITE_ALLOTS),
            site: None,
            seeded_ids: None,
            certificate: None,
            root_chain: Vec::new(),
            key_revocations: None,
            revoked_keys: Vec::new(),
            events_wake: Arc::new(Notify::new()),
            webhooks: Arc::default(),
            feed_waits: tokio::sync::Semaphore::new(events::FEED_WAITERS),
            key,
        }
    }

    /// Delivers events to the endpoints of `config` (the senders are [`crate::webhooks::spawn`]),
    /// retrying a failed delivery after `first_retry` and doubling, as node `node`
    /// ([`crate::webhooks::node_id`]).
    pub fn with_webhooks(
        mut self,
        config: crate::webhooks::WebhookConfig,
        first_retry: std::time::Duration,
        node: String,
    ) -> Self {
        self.webhooks = Arc::new(crate::webhooks::Hub::new(config, first_retry, node));
        self
    }

    /// The webhook endpoints and this node's delivery counts.
    pub fn webhooks(&self) -> &crate::webhooks::Hub {
        &self.webhooks
    }

    /// What a commit with audit records wakes: wait on it (having called `enable` on the
    /// `notified` future before looking at the log), and poll too for other nodes' commits.
    pub fn events_wake(&self) -> Arc<Notify> {
        self.events_wake.clone()
    }

    /// Uses `catalog` for entitlements, editions and per-product settings.
    pub fn with_catalog(self, catalog: Catalog) -> Self {
        self.replace_catalog(catalog);
        self
    }

    /// The catalog in use.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Puts `catalog` in use: licenses take it at their next purchase, renewal, refresh or
    /// reissue.
    pub fn replace_catalog(&self, catalog: Catalog) {
        let mut slot = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        *slot = Arc::new(catalog);
    }

    /// Reads the catalog file again and puts it in use. A catalog that does not load (or no
    /// catalog configured) leaves the one in use, and the error says why; both outcomes are
    /// logged.
    pub fn reload_catalog(&self) -> Result<Arc<Catalog>, crate::catalog::CatalogError> {
        let current = self.catalog();
        let Some(path) = current.source.clone() else {
            let e = crate::catalog::CatalogError {
                file: std::path::PathBuf::from("(none)"),
                message: "no catalog is configured (--products, LICD_PRODUCTS, products in [serve]); restart licd with one".into(),
            };
            tracing::warn!(error = %e, "catalog not reloaded");
            return Err(e);
        };
        match Catalog::load(&path) {
            Ok(c) => {
                tracing::info!(file = %path.display(), entries = c.entries.len(), default = c.default.is_some(), "catalog reloaded: licenses take it at their next purchase, renewal, refresh or reissue");
                self.replace_catalog(c);
                Ok(self.catalog())
            }
            Err(e) => {
                tracing::error!(error = %crate::logsafe::quoted(&e.to_string()), "the new catalog is not valid: the one loaded before stays in use");
                Err(e)
            }
        }
    }

    /// Lease requests refused since start because every seat was taken, by product.
    pub fn lease_refusals(&self) -> Vec<(String, u64)> {
        self.lease_refusals
            .lock()
            .map(|u| u.iter().map(|(p, n)| (p.clone(), *n)).collect())
            .unwrap_or_default()
    }

    /// Counts a lease request for `product` refused because every seat was taken.
    pub(crate) fn count_lease_refusal(&self, product: &str) {
        if let Ok(mut m) = self.lease_refusals.lock() {
            *m.entry(product.to_string()).or_default() += 1;
        }
    }

    /// Purchases of products the catalog does not list, by product, since start.
    pub fn unlisted_purchases(&self) -> Vec<(String, u64)> {
        self.unlisted
            .lock()
            .map(|u| u.iter().map(|(p, n)| (p.clone(), *n)).collect())
            .unwrap_or_default()
    }

    /// The catalog entry for `product`/`sku`. For a purchase (`purchase`) of a product the
    /// configured catalog does not list, logs a warning and counts it: the customer still gets
    /// the default entry (or none), never a refusal.
    pub(crate) fn entry_for(&self, product: &str, sku: &str, purchase: bool) -> Option<Entry> {
        let catalog = self.catalog();
        let found = catalog.lookup(product, sku);
        if purchase && catalog.is_configured() && !matches!(found, Lookup::Listed(_)) {
            tracing::warn!(product = %crate::logsafe::quoted(product), sku = %crate::logsafe::quoted(sku), default = matches!(found, Lookup::Default(_)), "a purchase of a product the catalog does not list: it gets the [default] entry (or no entitlements); add the product to the catalog");
            if let Ok(mut u) = self.unlisted.lock() {
                *u.entry(product.to_string()).or_default() += 1;
            }
        }
        found.entry().cloned()
    }

    /// Checks a License 2.0 code with the marketplace at most every `secs` seconds (default a
    /// day, as the marketplace asks; at least one).
    pub fn with_code_check_secs(mut self, secs: i64) -> Self {
        self.code_check_secs = secs.max(1);
        self
    }

    /// Makes the ids the service would draw at random (a License 2.0 code's license id) a
    /// sequence from `seed` instead: two services given the same steps then store the same
    /// bytes, which the differential test across backends relies on. Never in production: a
    /// random id is what keeps a code's license id from saying anything about the code.
    #[doc(hidden)]
    pub fn with_seeded_ids(mut self, seed: u64) -> Self {
        self.seeded_ids = Some(std::sync::atomic::AtomicU64::new(seed));
        self
    }

    /// Accepts tokens signed by any of `keys` (the whole key ring, so tokens minted before a
    /// rotation still activate and refresh) besides the signing key.
    /// Site mode: leases are signed with this service's key (the site key) and carry
    /// `allotment` (whose claims are `terms`) in their footer; the license's terms are the
    /// allotment's, not a catalog's. New leases may come as fast as the site's seats fill
    /// within a minute (a plant starting its shift), not at the online budget.
    pub fn with_site(mut self, allotment: String, terms: client_verifier::AllotmentClaims) -> Self {
        let seats = terms.seats.max(1);
        self.lease_grants = crate::ratelimit::KeyedLimits::new(crate::ratelimit::Budget {
            burst: seats.max(LEASE_GRANTS.burst),
            every: LEASE_GRANTS
                .every
                .min(std::time::Duration::from_secs(60) / seats),
        });
        self.site = Some(Arc::new(SiteMode { allotment, terms }));
        self
    }

    pub fn with_trusted(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        for k in keys {
            if !self.trusted.iter().any(|t| t.id() == k.id()) {
                self.trusted.push(k);
            }
        }
        self
    }

    /// Signs under a key hierarchy: `cert`, the signing key's certificate from the root, rides
    /// in every token's footer, so that applications trusting the root accept them.
    pub fn with_certificate(mut self, cert: Option<Arc<client_verifier::Certificate>>) -> Self {
        self.certificate = cert;
        self
    }

    /// The root documents (oldest first) that `GET /v1/root` serves in rooted mode.
    pub fn with_root_chain(mut self, chain: Vec<String>) -> Self {
        self.root_chain = chain;
        self
    }

    /// Serves `statement`, the root's revoked keys, with the revocation list, and honours a
    /// token signed by one of those keys only when licd recorded minting it.
    pub fn with_key_revocations(
        mut self,
        statement: Option<&client_verifier::KeyRevocations>,
    ) -> Self {
        self.key_revocations = statement.map(|k| k.to_json().to_string());
        self.revoked_keys = statement.map_or_else(Vec::new, |k| k.revoked().to_vec());
        self
    }

    /// Whether the root revoked the key `kid`.
    pub(crate) fn key_is_revoked(&self, kid: &str) -> bool {
        self.revoked_keys.iter().any(|k| k == kid)
    }

    /// Whether the root has revoked no key (nothing to check).
    pub(crate) fn revoked_keys_empty(&self) -> bool {
        self.revoked_keys.is_empty()
    }

    /// The root's statement of revoked keys, when there is one.
    pub fn key_revocations(&self) -> Option<&str> {
        self.key_revocations.as_deref()
    }

    /// The root documents, oldest first; empty when not rooted.
    pub fn root_chain(&self) -> &[String] {
        &self.root_chain
    }

    /// Whether the marketplace's open API is configured: without it the outbox's calls wait.
    pub fn has_marketplace_api(&self) -> bool {
        self.api.is_some()
    }

    /// Calls the marketplace's open API (order queries) with `api`.
    pub fn with_marketplace(mut self, api: Option<MarketplaceApi>) -> Self {
        self.api = api;
        self
    }

    /// Notified whenever a job is queued, so the outbox worker runs it at once.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }

    /// Every public key the service accepts tokens from, with whether it is the signing one.
    pub fn public_keys(&self) -> impl Iterator<Item = (&PublicKey, bool)> {
        let current = self.key.public_key().id();
        self.trusted.iter().map(move |k| (k, k.id() == current))
    }

    /// The issuer name (`iss`) in every token.
    pub fn issuer_name(&self) -> &str {
        &self.settings.issuer
    }

    /// The store, for read-only endpoints.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Twelve random bytes for a new id (or the next of a seeded sequence,
    /// [`Service::with_seeded_ids`]).
    fn fresh_id_bytes(&self) -> Result<[u8; 12], ServiceError> {
        match &self.seeded_ids {
            Some(next) => {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut b = [0; 12];
                b[4..].copy_from_slice(&n.to_be_bytes());
                Ok(b)
            }
            None => crate::crypto::random_bytes::<12>()
                .map_err(|e| ServiceError::Unavailable(e.to_string())),
        }
    }

    fn issuer(&self) -> Issuer<'_> {
        Issuer {
            name: &self.settings.issuer,
            key: &self.key,
            certificate: self.certificate.as_deref(),
            freeze_days: self.settings.freeze_days,
            record: note_minted,
        }
    }

    /// The one way a change reaches the store. `op` reads through the step's [`Tx`] and
    /// decides, returning the writes as one [`Batch`] and its answer; the batch is committed
    /// atomically and the answer returned only once the store has flushed: acknowledged means
    /// on disk. What `op` read is still true when its batch commits (the store's [`Tx`] sees
    /// to it, on one node or several). An error from `op` drops the step: nothing is written.
    /// The flush happens even when `op` wrote nothing, since a repeated call may be answering
    /// from a commit whose own flush failed. A job not tried yet (new, or reset by an operator)
    /// wakes the outbox worker; the worker's own updates after an attempt do not, so a failed
    /// call waits out its backoff.
    pub(crate) async fn transact<T>(
        &self,
        op: impl AsyncFnOnce(&Self, &mut Tx) -> Result<(Batch, T), ServiceError>,
    ) -> Result<T, ServiceError> {
        let mut tx = self.store.begin().await?;
        let (result, minted) = MINTED
            .scope(std::cell::RefCell::default(), async {
                let result = op(self, &mut tx).await;
                (result, MINTED.with(std::cell::RefCell::take))
            })
            .await;
        let (mut batch, answer) = result?;
        record_minted(&mut batch, minted);
        let queued = batch.jobs.iter().any(|j| j.attempts == 0 && !j.dead);
        let audited = !batch.audit.is_empty();
        if batch.is_empty() {
            drop(tx);
        } else {
            tx.commit(batch).await?;
        }
        self.store.flush().await?;
        if queued {
            self.outbox_wake.notify_one();
        }
        if audited {
            self.events_wake.notify_waiters();
        }
        Ok(answer)
    }

    /// `getLicense`: the license for a purchase, created on the first call and returned byte for
    /// byte on every later one. Returns (instance id, license string).
    pub async fn issue_classic(
        &self,
        p: NewPurchase,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(String, String), ServiceError> {
        let key = OrderKey::Classic(p.order.clone());
        // The marketplace recommends the first call's businessId as the instance id
        // (protocol §4.1); fall back to the order id so an id is never empty.
        let fresh = if p.business_id.is_empty() {
            p.order.clone()
        } else {
            p.business_id.clone()
        };
        // A repeat's license normally has that id too: read either way.
        let (id, token, new) = self.transact(async |s, tx| {
                // A repeat's license normally has that id too: both in one read.
                let (known, taken) = tx.purchase_and_license(&key, &fresh).await?;
                if let Some(id) = known {
                    let l = match taken {
                        Some(l) if l.id == id => l,
                        _ => must_get(tx, &id).await?,
                    };
                    let token = l.issued_token.clone().unwrap_or_default();
                    // The same answer, whatever the repeat says; but a repeat that says
                    // something else is worth a look by support.
                    let conflicts = l.conflicts_with(&p);
                    let mut batch = Batch::default();
                    if !conflicts.is_empty() {
                        let fields: serde_json::Map<String, serde_json::Value> = conflicts
                            .iter()
                            .map(|(f, was, now)| (f.to_string(), json!({ "recorded": was, "repeated": now })))
                            .collect();
                        tracing::warn!(activity = caller.action, order = %crate::logsafe::quoted(&p.order), instance = %l.id, fields = %crate::logsafe::quoted(&serde_json::Value::Object(fields.clone()).to_string()), "repeated getLicense differs from the purchase recorded; answered with the license issued then");
                        let caller = Caller { action: "conflicting_repeat", ..caller };
                        let detail = json!({ "order": p.order, "activity": "getLicense", "fields": fields, "test": caller.test });
                        batch.audit.push(s.event(&l, caller, now, detail));
                    }
                    return Ok((batch, (l.id, token, false)));
                }
                let id = fresh.clone();
                if taken.is_some() {
                    return Err(ServiceError::Invalid(format!(
                        "businessId: {id} is already the instance id of another order"
                    )));
                }
                let mut l = License::classic(&id, &p, caller.test, now);
                l.apply_entry(s.entry_for(&p.product, &p.sku, true).as_ref());
                let token = l.mint(&s.issuer(), now, None)?;
                l.issued_token = Some(token.clone());
                let event = s.event(&l, caller, now, json!({
                    "order": p.order, "exp": l.exp.to_rfc3339(), "revision": 1, "test": caller.test,
                }));
                let batch = Batch {
                    licenses: vec![l],
                    orders: vec![(key.clone(), id.clone())],
                    audit: vec![event],
                    ..Batch::default()
                };
                Ok((batch, (id, token, true)))
            })
            .await?;
        if new {
            tracing::info!(activity = caller.action, order = %p.order, instance = %id, test = caller.test, "license issued");
        }
        Ok((id, token))
    }

    /// `newInstance`: the instance for an order line, created once. Returns the instance id.
    pub async fn create_instance(
        &self,
        order: &str,
        order_line: &str,
        business_id: &str,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<String, ServiceError> {
        let key = OrderKey::Online(order.to_string(), order_line.to_string());
        let fresh = if business_id.is_empty() {
            format!("{order}-{order_line}")
        } else {
            business_id.to_string()
        };
        let (id, new) = self
            .transact(async |s, tx| {
                let (known, taken) = tx.purchase_and_license(&key, &fresh).await?;
                if let Some(id) = known {
                    return Ok((Batch::default(), (id, false)));
                }
                let id = fresh.clone();
                if taken.is_some() {
                    return Err(ServiceError::Invalid(format!(
                        "businessId: {id} is already the instance id of another order"
                    )));
                }
                let l = License::online(&id, order, order_line, caller.test, now);
                let event = s.event(
                    &l,
                    caller,
                    now,
                    json!({
                        "order": order, "order_line": order_line, "test": caller.test,
                    }),
                );
                let batch = Batch {
                    licenses: vec![l],
                    orders: vec![(key.clone(), id.clone())],
                    audit: vec![event],
                    ..Batch::default()
                };
                Ok((batch, (id, true)))
            })
            .await?;
        if new {
            tracing::info!(activity = caller.action, order, order_line, instance = %id, "instance created");
        }
        Ok(id)
    }

    /// License 1.0 renewal (`refreshLicense`): sets the absolute expiry, once per renewal order.
    pub async fn renew(
        &self,
        id: &str,
        order: &str,
        exp: Timestamp,
        product: Option<&str>,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let once = OnceKey::renewal(id, order);
        self.renew_once(id, &once, order, exp, product, caller, now)
            .await
    }

    /// Online-activation renewal (`refreshInstance`, any scene): sets the absolute expiry (a
    /// refund moves it earlier), once per order line and scene.
    pub async fn renew_instance(
        &self,
        r: &crate::marketplace::RefreshInstance,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let once = OnceKey::instance_renewal(
            &r.instance_id,
            &r.order_id,
            &r.order_line_id,
            r.scene.as_str(),
        );
        self.renew_once(
            &r.instance_id,
            &once,
            &r.order_id,
            r.expire_time,
            r.product_id.as_deref(),
            caller,
            now,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn renew_once(
        &self,
        id: &str,
        once: &OnceKey,
        order: &str,
        exp: Timestamp,
        product: Option<&str>,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.mutate(id, caller, now, Some(once), |s, l, already| {
            if already {
                // A repeated renewal order, or one repeated after the license was released:
                // either way it was applied once and must not be applied again.
                return Ok((Change::Unchanged, None, json!({})));
            }
            // The renewal carries the catalog as it is now (a product change too).
            let product_now = product.filter(|p| !p.is_empty()).unwrap_or(&l.product);
            let entry = s.entry_for(product_now, &l.sku, false);
            l.apply_entry(entry.as_ref());
            l.renew(exp, product, &s.issuer(), now)?;
            Ok((
                Change::Changed,
                Some(once.key().to_string()),
                json!({ "order": order, "exp": exp.to_rfc3339(), "revision": l.revision }),
            ))
        })
        .await
    }

    /// Freeze (`expireLicense`, `updateInstanceStatus` FREEZE).
    pub async fn freeze(
        &self,
        id: &str,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.set_status(id, caller, now, License::freeze).await
    }

    /// Unfreeze (`updateInstanceStatus` UNFREEZE).
    pub async fn unfreeze(
        &self,
        id: &str,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.set_status(id, caller, now, License::unfreeze).await
    }

    /// A status change that signs a new revision: `change` is [`License::freeze`] or
    /// [`License::unfreeze`].
    async fn set_status(
        &self,
        id: &str,
        caller: Caller<'_>,
        now: Timestamp,
        change: fn(&mut License, &Issuer<'_>, Timestamp) -> Result<Change, DomainError>,
    ) -> Result<(), ServiceError> {
        self.mutate(id, caller, now, None, |s, l, _| {
            let c = change(l, &s.issuer(), now)?;
            Ok((c, None, json!({ "revision": l.revision })))
        })
        .await
    }

    /// Release (`releaseLicense`, `releaseInstance`): terminal; the id goes on the revocation
    /// list, the record and its history stay.
    pub async fn release(
        &self,
        id: &str,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.mutate(id, caller, now, None, |_, l, _| {
            Ok((l.release(now), None, json!({})))
        })
        .await
    }

    /// `upgradeInstance`: recorded once per upgrade order line; the new quota comes from the
    /// order query.
    pub async fn upgrade(
        &self,
        u: &crate::marketplace::UpgradeInstance,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let once = OnceKey::upgrade(&u.instance_id, &u.order_id, &u.order_line_id);
        let order = format!("{}/{}", u.order_id, u.order_line_id);
        self.record_once(&u.instance_id, &once, &order, caller, now)
            .await
    }

    /// Records an operation that changes nothing here but must be applied once.
    async fn record_once(
        &self,
        id: &str,
        once: &OnceKey,
        order: &str,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.mutate(id, caller, now, Some(once), |_, l, already| {
            if already {
                return Ok((Change::Unchanged, None, json!({})));
            }
            if l.status == Status::Released {
                return Err(DomainError::Released {
                    id: l.id.clone(),
                    action: "upgrade",
                }
                .into());
            }
            Ok((
                Change::Changed,
                Some(once.key().to_string()),
                json!({ "order": order }),
            ))
        })
        .await
    }

    /// `getLicenseAsync`: the device-bound token for one request, minted once; the same request
    /// always gets the same token. The token is handed to the outbox for upload in the same
    /// transaction; a repeated request queues the upload again unless one is pending.
    pub async fn device_license(
        &self,
        r: DeviceRequest,
        caller: Caller<'_>,
        now: Timestamp,
    ) -> Result<DeviceLicense, ServiceError> {
        let raw = match r.fingerprint.as_deref().map(str::trim) {
            Some(f) if !f.is_empty() => f.to_string(),
            _ if self.settings.require_fingerprint => {
                return Err(ServiceError::FingerprintRequired);
            }
            _ => String::new(),
        };
        let binding = if raw.is_empty() {
            None
        } else {
            // A paid order the marketplace retries is not refused for listing several machines'
            // values: it binds what names one machine (see `Fingerprint::one_machine`).
            let fp = Fingerprint::parse(&raw)
                .map_err(|e| ServiceError::Invalid(format!("deviceFingerprint: {e}")))?
                .one_machine();
            if !fp.identifies_machine() {
                // Such a binding could never hold in the verifier: refuse it now, with the
                // reason, rather than deliver a license that locks its customer out.
                return Err(ServiceError::Invalid(
                    "deviceFingerprint: has no disk or mainboard serial; MAC addresses and CPU ids alone do not identify a machine".into(),
                ));
            }
            Some(Binding::new(&fp, binding_salt(&r.instance, &r.event)))
        };
        let key = DeviceKey {
            license_id: r.instance.clone(),
            event_id: r.event.clone(),
            fingerprint: raw.clone(),
        };
        let job_id = Job::upload_id(&r.instance, &r.event, &raw);
        self.transact(async |s, tx| {
            if let Some(d) = tx.device(&key).await? {
                let mut batch = Batch::default();
                if tx.job(&job_id).await?.is_none_or(|j| j.dead) {
                    let task = Task::Upload {
                        event_id: d.event_id.clone(),
                        token: d.token.clone(),
                    };
                    batch.jobs.push(Job::new(job_id.clone(), &d.license_id, task, now));
                    tracing::info!(instance = %d.license_id, event = %d.event_id, "repeated request: upload queued again");
                }
                return Ok((batch, d));
            }
            let l = must_get(tx, &r.instance).await?;
            let exp = s.check_device_request(tx, &l, &r, &raw).await?;
            let mut scoped = l.clone();
            scoped.nbf = r.nbf;
            scoped.exp = exp;
            let token = scoped.mint(&s.issuer(), now, binding)?;
            let d = DeviceLicense {
                license_id: l.id.clone(),
                event_id: r.event.clone(),
                fingerprint: raw.clone(),
                token,
                nbf: r.nbf,
                exp,
                created: now,
                revoked: None,
            };
            let event = s.event(
                &l,
                caller,
                now,
                json!({
                    "event": r.event, "nbf": r.nbf.to_rfc3339(), "exp": exp.to_rfc3339(),
                    "bound": !d.fingerprint.is_empty(), "job": job_id,
                }),
            );
            let task = Task::Upload {
                event_id: r.event.clone(),
                token: d.token.clone(),
            };
            let batch = Batch {
                devices: vec![(key.clone(), d.clone())],
                jobs: vec![Job::new(job_id.clone(), &l.id, task, now)],
                audit: vec![event],
                stats: vec![(crate::store::activation_stat(now), 1)],
                ..Batch::default()
            };
            tracing::info!(activity = caller.action, instance = %l.id, event = %r.event, "device license minted; upload queued");
            Ok((batch, d))
        })
        .await
    }

    /// The checks of protocol §12.4 for a new device license: instance active, expiry given for
    /// periodic goods (`000902`), inside the order's validity (`000901`), quota left (`000900`).
    /// Returns the token's expiry.
    async fn check_device_request(
        &self,
        tx: &mut Tx,
        l: &License,
        r: &DeviceRequest,
        raw: &str,
    ) -> Result<Timestamp, ServiceError> {
        if l.status != Status::Active {
            return Err(ServiceError::OutsideValidity(format!(
                "instance {} is {}: no new device licenses until it is renewed",
                l.id,
                l.status.as_str()
            )));
        }
        let exp = match r.exp {
            Some(e) => e,
            None if l.periodic => return Err(ServiceError::ExpiryRequired),
            None => l.exp,
        };
        if exp <= r.nbf {
            return Err(ServiceError::Invalid(format!(
                "expireTime: {exp} is not after effectiveTime {}",
                r.nbf
            )));
        }
        // The order's end, with a day's grace for clocks and time zones; one-off purchases
        // (PERPETUAL) have no end.
        if l.exp < PERPETUAL {
            let limit = l.exp.add_secs(client_verifier::DAY);
            if r.nbf >= l.exp || exp > limit {
                return Err(ServiceError::OutsideValidity(format!(
                    "effectiveTime {} .. expireTime {exp} is outside the order's validity (until {})",
                    r.nbf, l.exp
                )));
            }
        }
        // Until an order query has succeeded (open API not configured, or the query still
        // in the outbox) the quota is unknown; a paying customer is not refused on a guess.
        if l.order_synced.is_none() {
            tracing::warn!(
                instance = %l.id,
                "device license issued without a quota check: the order has not been read from the marketplace yet"
            );
            return Ok(exp);
        }
        let devices = tx.devices_for(&l.id).await?;
        let mut in_use: Vec<&str> = devices
            .iter()
            .filter(|d| d.revoked.is_none())
            .map(|d| d.fingerprint.as_str())
            .collect();
        in_use.sort_unstable();
        in_use.dedup();
        // The same device asking again (a new event after a reinstall or renewal) takes no
        // new quota.
        if !in_use.contains(&raw) && in_use.len() >= l.quantity as usize {
            return Err(ServiceError::QuotaExhausted {
                instance: l.id.clone(),
                quota: l.quantity,
            });
        }
        Ok(exp)
    }

    /// Reads the license, lets `f` change it, and commits it with an audit event (through
    /// `Service::transact`). A state change signed before the newest one applied is stale:
    /// audited, and nothing else changes.
    async fn mutate<F>(
        &self,
        id: &str,
        caller: Caller<'_>,
        now: Timestamp,
        once: Option<&OnceKey>,
        f: F,
    ) -> Result<(), ServiceError>
    where
        F: FnOnce(
            &Self,
            &mut License,
            bool,
        ) -> Result<(Change, Option<String>, serde_json::Value), ServiceError>,
    {
        self.transact(async |s, tx| {
            let mut l = must_get(tx, id).await?;
            if l.direct.is_some() {
                // The ISV issued it: the marketplace knows no such instance, so a callback
                // naming it (a mistake, or a signed request replayed with another id) is one
                // for an instance that does not exist, and changes nothing.
                tracing::warn!(activity = caller.action, instance = %id, "marketplace callback for a license the ISV issued itself: refused as an unknown instance");
                return Err(ServiceError::NotFound(id.to_string()));
            }
            if l.is_stale(caller.signed_at) {
                // A replay from a log (inside the signature window) or a delivery overtaken by a
                // later statement: the newest marketplace statement wins. Success, so the
                // marketplace does not retry; audited, so support can see it.
                let signed = caller.signed_at.map(crate::license::SignedTime::to_rfc3339);
                let newest = match l.last_signed_ms {
                    Some(ms) => Some(crate::license::SignedTime::from_millis(ms).to_rfc3339()),
                    None => l.last_signed.map(Timestamp::to_rfc3339),
                };
                tracing::warn!(activity = caller.action, instance = %id, signed_at = ?signed, newest_applied = ?newest, "stale callback: signed before the newest change applied; nothing changed");
                let event = s.event(
                    &l,
                    caller,
                    now,
                    json!({ "stale": true, "signed_at": signed, "newest_applied": newest, "test": caller.test }),
                );
                return Ok((Batch { audit: vec![event], ..Batch::default() }, ()));
            }
            let already = match once {
                Some(once) => applied(tx, once).await?,
                None => false,
            };
            let (change, applied, mut detail) = f(s, &mut l, already)?;
            if change == Change::Unchanged {
                tracing::info!(activity = caller.action, instance = %id, "repeated call: nothing to change");
                return Ok((Batch::default(), ()));
            }
            l.mark_signed(caller.signed_at);
            detail["status"] = json!(l.status.as_str());
            detail["test"] = json!(caller.test);
            let event = s.event(&l, caller, now, detail);
            tracing::info!(activity = caller.action, instance = %id, test = caller.test, "license updated");
            let batch = Batch {
                licenses: vec![l],
                applied: applied.into_iter().collect(),
                audit: vec![event],
                ..Batch::default()
            };
            Ok((batch, ()))
        })
        .await
    }

    fn event(
        &self,
        l: &License,
        caller: Caller<'_>,
        now: Timestamp,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent::new(&l.id, caller.action, caller.actor(), now, detail)
    }
}

tokio::task_local! {
    /// The tokens the running step minted: [`Service::transact`] commits their records
    /// ([`crate::license::minted_key`]) with the step's writes.
    static MINTED: std::cell::RefCell<Vec<String>>;
}

/// Adds to `batch` the records of the tokens its step minted, but for those the batch keeps
/// for good: a license's first token (`issued_token`, answered byte for byte to every repeated
/// `getLicense`) and a device license's (replaced only by re-signing, which records the old
/// one). The store holding such a token is the record ([`Service::open_token`] looks there
/// too), so the callbacks that mint them write nothing more.
fn record_minted(batch: &mut Batch, minted: Vec<String>) {
    if minted.is_empty() {
        return;
    }
    let kept: std::collections::HashSet<&str> = batch
        .licenses
        .iter()
        .filter_map(|l| l.issued_token.as_deref())
        .chain(batch.devices.iter().map(|(_, d)| d.token.as_str()))
        .collect();
    let records: Vec<String> = minted
        .iter()
        .filter(|t| !kept.contains(t.as_str()))
        .map(|t| crate::license::minted_key(t))
        .collect();
    batch.applied.extend(records);
}

/// [`Issuer::record`] of the service: every token minted in a step is recorded with it
/// ([`record_minted`]). A token minted outside a step would go unrecorded, which only a bug can
/// do.
fn note_minted(token: &str) {
    let recorded = MINTED.try_with(|m| m.borrow_mut().push(token.to_string()));
    debug_assert!(recorded.is_ok(), "a token was minted outside a step");
    if recorded.is_err() {
        tracing::error!("a token was minted outside a transaction step: it is not recorded");
    }
}

/// Records, with the running step, that licd minted `token` earlier and the step replaces it
/// in the store: a customer may still hold it, and it may predate the records.
pub(crate) fn note_replaced(token: &str) {
    note_minted(token);
}

/// The license `id`, read in step `tx`, or [`ServiceError::NotFound`].
pub(crate) async fn must_get(tx: &mut Tx, id: &str) -> Result<License, ServiceError> {
    tx.license(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(id.to_string()))
}

/// Whether an operation was applied, under its key or an earlier spelling of it.
pub(crate) async fn applied(tx: &mut Tx, once: &OnceKey) -> Result<bool, StoreError> {
    for key in once.all() {
        if tx.applied(key).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    //! The service's rules on the in-memory store: fast, no disk, no HTTP.

    use super::*;
    use crate::store::MemStore;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn service() -> (Arc<MemStore>, Service) {
        let store = Arc::new(MemStore::new());
        let svc = Service::new(
            store.clone(),
            Arc::new(SecretKey::from_seed(&[8; 32])),
            Settings {
                issuer: "acme".into(),
                freeze_days: 15,
                require_fingerprint: true,
                min_fingerprint_components: 3,
            },
        );
        (store, svc)
    }

    fn caller(action: &str, signed_at: Option<crate::license::SignedTime>) -> Caller<'_> {
        Caller {
            action,
            test: false,
            signed_at,
        }
    }

    fn purchase(order: &str) -> NewPurchase {
        crate::license::sample_purchase(order, &format!("lic-{order}"))
    }

    #[tokio::test]
    async fn concurrent_identical_purchases_create_one_license_with_the_same_bytes() {
        let (store, svc) = service();
        let svc = Arc::new(svc);
        let now = t("2026-01-01T00:00:00Z");
        let calls = (0..50).map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move {
                svc.issue_classic(purchase("O1"), caller("getLicense", None), now)
                    .await
                    .unwrap()
            })
        });
        let mut answers = Vec::new();
        for c in calls {
            answers.push(c.await.unwrap());
        }
        answers.dedup();
        assert_eq!(answers.len(), 1, "one license, byte for byte");
        assert_eq!(store.counts().unwrap().active, 1);
        assert_eq!(store.audit_for("lic-O1").unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_renewal_applies_once_and_a_stale_freeze_changes_nothing() {
        let (store, svc) = service();
        let now = t("2026-01-01T00:00:00Z");
        svc.issue_classic(purchase("O2"), caller("getLicense", None), now)
            .await
            .unwrap();
        let signed = |s: &str| Some(crate::license::SignedTime::from_second(t(s)));
        for _ in 0..2 {
            svc.renew(
                "lic-O2",
                "R1",
                t("2028-01-01T00:00:00Z"),
                None,
                caller("refreshLicense", signed("2026-02-01T00:00:10Z")),
                now,
            )
            .await
            .unwrap();
        }
        let l = store.license("lic-O2").unwrap().unwrap();
        assert_eq!((l.revision, l.exp), (2, t("2028-01-01T00:00:00Z")));
        // A freeze signed before that renewal: recorded as stale, the license stays active.
        svc.freeze(
            "lic-O2",
            caller("expireLicense", signed("2026-02-01T00:00:05Z")),
            now,
        )
        .await
        .unwrap();
        let l = store.license("lic-O2").unwrap().unwrap();
        assert_eq!((l.status, l.revision), (Status::Active, 2));
        let last = store.audit_for("lic-O2").unwrap().pop().unwrap();
        assert_eq!(last.event.detail["stale"], true);
        // A later one applies.
        svc.freeze(
            "lic-O2",
            caller("expireLicense", signed("2026-02-01T00:00:20Z")),
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            store.license("lic-O2").unwrap().unwrap().status,
            Status::Frozen
        );
        assert_eq!(store.verify_audit_chain().unwrap(), Ok(4));
    }

    /// Every token minted is recorded with its step, but those the store keeps for good: the
    /// first token of a license is not (the store holds it), a renewal's is, and a refresh that
    /// mints (a check-in) records what it handed out.
    #[tokio::test]
    async fn tokens_minted_are_recorded_with_their_step() {
        use crate::license::minted_key;
        let (store, svc) = service();
        let now = t("2026-01-01T00:00:00Z");
        let (_, first) = svc
            .issue_classic(purchase("O7"), caller("getLicense", None), now)
            .await
            .unwrap();
        assert!(!store.applied(&minted_key(&first)).unwrap());
        svc.renew(
            "lic-O7",
            "R7",
            t("2028-01-01T00:00:00Z"),
            None,
            caller("refreshLicense", None),
            now,
        )
        .await
        .unwrap();
        let renewed = store
            .license("lic-O7")
            .unwrap()
            .unwrap()
            .latest_token
            .unwrap();
        assert_ne!(renewed, first);
        assert!(store.applied(&minted_key(&renewed)).unwrap());
        let mut l = store.license("lic-O7").unwrap().unwrap();
        l.check_in_days = 7;
        store
            .apply(Batch {
                licenses: vec![l],
                ..Batch::default()
            })
            .unwrap();
        let checked_in = svc
            .refresh(&renewed, t("2026-01-02T00:00:00Z"))
            .await
            .unwrap()
            .token;
        assert_ne!(checked_in, renewed);
        assert!(store.applied(&minted_key(&checked_in)).unwrap());
    }

    /// Signed times keep the milliseconds the marketplace sent: an unfreeze signed 400 ms after
    /// a freeze, then that freeze replayed, within one second.
    #[tokio::test]
    async fn a_change_signed_earlier_within_the_same_second_is_stale() {
        use crate::license::SignedTime;
        let (store, svc) = service();
        let now = t("2026-01-01T00:00:00Z");
        svc.issue_classic(purchase("O9"), caller("getLicense", None), now)
            .await
            .unwrap();
        let base = t("2026-02-01T00:00:10Z").unix() * 1000;
        let at = |ms: i64| Some(SignedTime::from_millis(base + ms));
        svc.freeze("lic-O9", caller("expireLicense", at(100)), now)
            .await
            .unwrap();
        svc.unfreeze("lic-O9", caller("refreshLicense", at(500)), now)
            .await
            .unwrap();
        assert_eq!(
            store.license("lic-O9").unwrap().unwrap().status,
            Status::Active
        );
        // The freeze replayed: same second, earlier millisecond.
        svc.freeze("lic-O9", caller("expireLicense", at(100)), now)
            .await
            .unwrap();
        let l = store.license("lic-O9").unwrap().unwrap();
        assert_eq!(l.status, Status::Active, "the replay was applied");
        assert_eq!(l.last_signed_ms, Some(base + 500));
        let last = store.audit_for("lic-O9").unwrap().pop().unwrap();
        assert_eq!(last.event.detail["stale"], true);
        assert_eq!(last.event.detail["signed_at"], "2026-02-01T00:00:10.100Z");
        // A record written before milliseconds were kept compares to the second, as before.
        let mut old = l.clone();
        old.last_signed_ms = None;
        assert!(!old.is_stale(at(100)));
        assert!(old.is_stale(Some(SignedTime::from_millis(base - 1))));
    }

    #[tokio::test]
    async fn a_device_license_refreshes_within_its_own_validity_until_the_order_is_known() {
        let (store, svc) = service();
        let now = t("2026-01-01T00:00:00Z");
        svc.create_instance("O3", "L3", "inst-3", caller("newInstance", None), now)
            .await
            .unwrap();
        let fp = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
        let d = svc
            .device_license(
                DeviceRequest {
                    instance: "inst-3".into(),
                    event: "ev".into(),
                    fingerprint: Some(fp.into()),
                    nbf: now,
                    exp: Some(t("2026-01-31T00:00:00Z")),
                },
                caller("getLicenseAsync", None),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            store.jobs().unwrap().len(),
            1,
            "the upload is queued with it"
        );
        let r = svc.refresh(&d.token, now).await.unwrap();
        let claims = client_verifier::danger::decode_unverified(&r.token).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&claims.message).unwrap();
        assert_eq!(claims["exp"], "2026-01-31T00:00:00Z");
    }

    #[tokio::test]
    async fn a_reissue_supersedes_the_old_token() {
        let (_, svc) = service();
        let now = t("2026-01-01T00:00:00Z");
        let (_, old) = svc
            .issue_classic(purchase("O4"), caller("getLicense", None), now)
            .await
            .unwrap();
        let new = svc
            .reissue(
                "lic-O4",
                None,
                &crate::accounts::Principal::admin_token("admin:test"),
                "leaked",
                now,
            )
            .await
            .unwrap()
            .token;
        assert!(matches!(
            svc.refresh(&old, now).await,
            Err(ServiceError::Superseded { revision: 1, .. })
        ));
        assert_eq!(svc.refresh(&new, now).await.unwrap().revision, 2);
    }
}
