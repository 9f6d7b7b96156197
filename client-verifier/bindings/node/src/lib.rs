//! The Node.js and Electron binding of client-verifier: an N-API addon (napi-rs), so one build
//! serves every Node from 18 and every Electron. `index.js` wraps it in the documented API
//! (`index.d.ts`): dates as `Date`, options objects, errors with a `code`.
//!
//! It wraps the Rust API directly, not the C ABI. Every error's `code` is the C ABI's result
//! name (`DeviceMismatch`, `Revoked`, `BadKey`, …), so a verdict reads the same in every
//! language.

use std::sync::{Mutex, PoisonError, RwLock};

use client_verifier::lease_client::{LeaseClient as CoreLeaseClient, LeaseConfig};
use client_verifier::offline::state::OfflineState;
use client_verifier::{
    BindingRequirement, Fingerprint, MatchPolicy, PublicKey, Root, TimeGuard, Timestamp,
    VerifiedLease, VerifiedLicense, Verifier as CoreVerifier,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// An error's `code`: the C ABI's result name.
#[derive(Debug)]
pub struct Code(&'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

type Outcome<T> = Result<T, Code>;

fn fail(name: &'static str, message: impl std::fmt::Display) -> Error<Code> {
    Error::new(Code(name), message.to_string())
}

/// A fingerprint given as text, or this machine's when absent (for verification, a machine
/// whose fingerprint cannot be read verifies with no device, as the C ABI does).
fn device(text: Option<&str>, collect_quietly: bool) -> Outcome<Option<Fingerprint>> {
    match text {
        Some(t) => Fingerprint::parse(t)
            .map(Some)
            .map_err(|e| fail("BadFingerprint", e)),
        None if collect_quietly => Ok(Fingerprint::collect().ok()),
        None => Fingerprint::collect()
            .map(Some)
            .map_err(|e| fail("FingerprintUnavailable", e)),
    }
}

fn instant(now: Option<i64>) -> Timestamp {
    now.map_or_else(Timestamp::now, Timestamp::from_unix)
}

fn unpoison<G>(r: std::result::Result<G, PoisonError<G>>) -> G {
    r.unwrap_or_else(PoisonError::into_inner)
}

/// What the application keeps between runs (see `index.d.ts`).
#[napi]
#[derive(Debug)]
pub struct State {
    inner: Mutex<TimeGuard>,
}

#[napi]
impl State {
    #[napi(constructor)]
    pub fn new(text: Option<String>) -> Result<Self> {
        let guard = match text {
            None => TimeGuard::default(),
            Some(t) => TimeGuard::decode(&t).ok_or_else(|| {
                Error::new(
                    Status::InvalidArg,
                    "not a saved state (tg1./tg2./tg3. text)".to_string(),
                )
            })?,
        };
        Ok(State {
            inner: Mutex::new(guard),
        })
    }

    #[napi]
    pub fn encode(&self) -> String {
        unpoison(self.inner.lock()).encode()
    }

    /// Seconds since 1970.
    #[napi(getter)]
    pub fn last_seen(&self) -> i64 {
        unpoison(self.inner.lock()).last_seen().unix()
    }

    #[napi(getter)]
    pub fn revocation_seq(&self) -> i64 {
        unpoison(self.inner.lock()).revocation_seq() as i64
    }

    #[napi(getter)]
    pub fn key_revocation_seq(&self) -> i64 {
        unpoison(self.inner.lock()).key_revocation_seq() as i64
    }

    #[napi(getter)]
    pub fn root_version(&self) -> u32 {
        unpoison(self.inner.lock()).root_version()
    }
}

/// The native verifier's settings (camelCase in JavaScript).
#[napi(object)]
#[derive(Debug)]
pub struct VerifierOptions {
    pub public_keys: Option<Vec<String>>,
    pub issuer: Option<String>,
    pub product: Option<String>,
    pub root: Option<String>,
    pub binding_optional: Option<bool>,
    pub match_all: Option<bool>,
    pub min_revocation_seq: Option<i64>,
}

#[napi]
#[derive(Debug)]
pub struct Verifier {
    inner: RwLock<CoreVerifier>,
}

#[napi]
impl Verifier {
    /// Throws with a `code` (a constructor cannot, so `index.js` calls this).
    #[napi(factory)]
    pub fn create(options: VerifierOptions) -> Result<Self, Code> {
        let (Some(issuer), Some(product)) = (options.issuer, options.product) else {
            return Err(fail(
                "InvalidArgument",
                "issuer and product are required: a verifier that accepted any would accept \
                 another ISV's or another product's licenses",
            ));
        };
        let keys = options.public_keys.unwrap_or_default();
        if keys.is_empty() && options.root.is_none() {
            return Err(fail(
                "InvalidArgument",
                "trust at least one public key (publicKeys) or a root (root)",
            ));
        }
        let min_seq = u64::try_from(options.min_revocation_seq.unwrap_or(0))
            .map_err(|_| fail("InvalidArgument", "minRevocationSeq is negative"))?;
        let mut b = CoreVerifier::builder()
            .issuer(issuer)
            .product(product)
            .min_revocation_seq(min_seq);
        for (i, k) in keys.iter().enumerate() {
            let key = PublicKey::from_paserk(k)
                .map_err(|e| fail("BadKey", format!("publicKeys[{i}]: {e}")))?;
            b = b.trust(key);
        }
        if let Some(root) = options.root {
            b = b.trust_root(Root::from_json(&root).map_err(|e| fail("BadKey", e))?);
        }
        if options.binding_optional == Some(true) {
            b = b.binding(BindingRequirement::Optional);
        }
        if options.match_all == Some(true) {
            b = b.match_policy(MatchPolicy::All);
        }
        Ok(Verifier {
            inner: RwLock::new(b.build()),
        })
    }

    #[napi]
    pub fn verify(
        &self,
        token: String,
        fingerprint: Option<String>,
        now: Option<i64>,
        state: Option<&State>,
    ) -> Result<License, Code> {
        let device = device(fingerprint.as_deref(), true)?;
        let now = instant(now);
        let v = unpoison(self.inner.read());
        let result = match state {
            Some(s) => v.verify_guarded(
                &token,
                device.as_ref(),
                now,
                &mut s.inner.lock().unwrap_or_else(PoisonError::into_inner),
            ),
            None => v.verify(&token, device.as_ref(), now),
        };
        result
            .map(|inner| License { inner })
            .map_err(|e| fail(e.name(), e))
    }

    #[napi]
    pub fn verify_lease(
        &self,
        token: String,
        fingerprint: Option<String>,
        now: Option<i64>,
    ) -> Result<Lease, Code> {
        let device = device(fingerprint.as_deref(), true)?;
        unpoison(self.inner.read())
            .verify_lease(&token, device.as_ref(), instant(now))
            .map(|inner| Lease { inner })
            .map_err(|e| fail(e.name(), e))
    }

    #[napi]
    pub fn load_revocations(&self, token: String, state: Option<&State>) -> Result<i64, Code> {
        let mut v = unpoison(self.inner.write());
        let result = match state {
            Some(s) => v.load_revocations_guarded(
                &token,
                &mut s.inner.lock().unwrap_or_else(PoisonError::into_inner),
            ),
            None => v.load_revocations(&token),
        };
        result.map(|seq| seq as i64).map_err(|e| fail(e.name(), e))
    }

    #[napi]
    pub fn load_key_revocations(&self, statement: String, state: &State) -> Result<i64, Code> {
        unpoison(self.inner.write())
            .load_key_revocations_guarded(
                &statement,
                &mut state.inner.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .map(|seq| seq as i64)
            .map_err(|e| fail(e.name(), e))
    }

    #[napi(getter)]
    pub fn revocation_seq(&self) -> i64 {
        unpoison(self.inner.read()).revocation_seq() as i64
    }
}

/// A verified license; dates in seconds since 1970 (`index.js` makes them `Date`s).
#[napi]
#[derive(Debug)]
pub struct License {
    inner: VerifiedLicense,
}

#[napi]
impl License {
    #[napi(getter)]
    pub fn status(&self) -> &'static str {
        self.inner.status().name()
    }

    #[napi(getter)]
    pub fn expires_at(&self) -> i64 {
        self.inner.claims().exp.unix()
    }

    #[napi(getter)]
    pub fn freeze_until(&self) -> i64 {
        self.inner.claims().freeze_until.unix()
    }

    #[napi(getter)]
    pub fn check_in_by(&self) -> Option<i64> {
        self.inner.check_in_by().map(Timestamp::unix)
    }

    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.claims().jti.clone()
    }

    #[napi(getter)]
    pub fn customer(&self) -> String {
        self.inner.claims().sub.clone()
    }

    #[napi(getter)]
    pub fn issuer(&self) -> String {
        self.inner.claims().iss.clone()
    }

    #[napi(getter)]
    pub fn product(&self) -> String {
        self.inner.claims().product.clone()
    }

    #[napi(getter)]
    pub fn sku(&self) -> String {
        self.inner.claims().sku.clone()
    }

    #[napi(getter)]
    pub fn order(&self) -> String {
        self.inner.claims().order.clone()
    }

    #[napi(getter)]
    pub fn revision(&self) -> u32 {
        self.inner.claims().revision
    }

    #[napi(getter)]
    pub fn quantity(&self) -> u32 {
        self.inner.claims().quantity
    }

    #[napi(getter)]
    pub fn edition(&self) -> Option<String> {
        self.inner.edition().map(str::to_string)
    }

    #[napi(getter)]
    pub fn key_id(&self) -> String {
        self.inner.key_id().to_string()
    }

    /// `direct` or `trial` for a license the ISV issued itself.
    #[napi(getter)]
    pub fn origin(&self) -> Option<String> {
        self.inner.origin().map(str::to_string)
    }

    /// The entitlements as JSON text.
    #[napi(getter)]
    pub fn entitlements_json(&self) -> String {
        serde_json::to_string(&self.inner.claims().entitlements).unwrap_or_else(|_| "{}".into())
    }

    #[napi]
    pub fn feature(&self, name: String) -> bool {
        self.inner.feature(&name)
    }

    #[napi]
    pub fn limit(&self, name: String) -> Option<i64> {
        self.inner.limit(&name)
    }
}

/// A verified lease of a floating license's seat.
#[napi]
#[derive(Debug)]
pub struct Lease {
    inner: VerifiedLease,
}

#[napi]
impl Lease {
    #[napi(getter)]
    pub fn expires_at(&self) -> i64 {
        self.inner.expires_at().unix()
    }

    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.claims().jti.clone()
    }

    #[napi(getter)]
    pub fn license(&self) -> String {
        self.inner.claims().lic.clone()
    }

    #[napi(getter)]
    pub fn seat(&self) -> u32 {
        self.inner.claims().seat
    }

    #[napi(getter)]
    pub fn instance(&self) -> String {
        self.inner.claims().instance.clone()
    }

    #[napi(getter)]
    pub fn borrowed(&self) -> bool {
        self.inner.claims().borrowed
    }

    #[napi(getter)]
    pub fn edition(&self) -> Option<String> {
        self.inner.claims().edition.clone()
    }

    #[napi]
    pub fn feature(&self, name: String) -> bool {
        self.inner.feature(&name)
    }

    #[napi]
    pub fn limit(&self, name: String) -> Option<i64> {
        self.inner.limit(&name)
    }
}

/// A floating license's seat, renewed on a thread of its own until `close()`.
#[napi]
#[derive(Debug)]
pub struct LeaseClient {
    inner: Mutex<Option<CoreLeaseClient>>,
}

#[napi]
impl LeaseClient {
    #[napi(getter)]
    pub fn valid(&self) -> bool {
        unpoison(self.inner.lock())
            .as_ref()
            .is_some_and(CoreLeaseClient::is_valid)
    }

    /// `leased`, `renewing`, `lost`, `refused` or `closed`.
    #[napi(getter)]
    pub fn state(&self) -> &'static str {
        unpoison(self.inner.lock())
            .as_ref()
            .map_or("closed", |c| c.status().state.name())
    }

    #[napi(getter)]
    pub fn lease(&self) -> Option<Lease> {
        unpoison(self.inner.lock())
            .as_ref()
            .and_then(CoreLeaseClient::verified)
            .map(|inner| Lease { inner })
    }

    #[napi(getter)]
    pub fn token(&self) -> Option<String> {
        unpoison(self.inner.lock())
            .as_ref()
            .and_then(CoreLeaseClient::token)
    }

    /// Gives the seat back and stops renewing. Idempotent.
    #[napi]
    pub fn close(&self) {
        if let Some(c) = unpoison(self.inner.lock()).take() {
            c.release();
        }
    }
}

/// The lease client's settings (camelCase in JavaScript).
#[napi(object)]
#[derive(Debug)]
pub struct LeaseOptions {
    pub server: String,
    pub license: String,
    pub instance: String,
    pub fingerprint: Option<String>,
    pub ca_pem: Option<String>,
    pub allow_plain_http: Option<bool>,
}

/// What leasing gave: a client, or an error's code and message (`index.js` throws it). The
/// request runs on libuv's thread pool, so leasing does not block the event loop.
#[napi(object, object_from_js = false)]
#[derive(Debug)]
pub struct LeaseOutcome {
    pub client: Option<LeaseClient>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Debug)]
pub struct AcquireLease {
    config: Option<LeaseConfig>,
    verifier: CoreVerifier,
}

impl Task for AcquireLease {
    type Output = std::result::Result<CoreLeaseClient, (&'static str, String)>;
    type JsValue = LeaseOutcome;

    fn compute(&mut self) -> Result<Self::Output> {
        let Some(config) = self.config.take() else {
            return Ok(Err(("Internal", "the lease was already asked for".into())));
        };
        Ok(CoreLeaseClient::acquire(config, self.verifier.clone())
            .map_err(|e| (e.name(), e.to_string())))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<LeaseOutcome> {
        Ok(match output {
            Ok(client) => LeaseOutcome {
                client: Some(LeaseClient {
                    inner: Mutex::new(Some(client)),
                }),
                error_code: None,
                error_message: None,
            },
            Err((code, message)) => LeaseOutcome {
                client: None,
                error_code: Some(code.to_string()),
                error_message: Some(message),
            },
        })
    }
}

/// Leases a seat (one request, off the event loop), then renews it in the background.
#[napi]
pub fn acquire_lease(
    verifier: &Verifier,
    options: LeaseOptions,
) -> Result<AsyncTask<AcquireLease>, Code> {
    let Some(device) = device(options.fingerprint.as_deref(), false)? else {
        return Err(fail("FingerprintUnavailable", "no fingerprint"));
    };
    let mut config = LeaseConfig::new(options.server, options.license, options.instance, device);
    config.allow_plain_http = options.allow_plain_http == Some(true);
    config.ca_pem = options.ca_pem.map(String::into_bytes);
    Ok(AsyncTask::new(AcquireLease {
        config: Some(config),
        verifier: unpoison(verifier.inner.read()).clone(),
    }))
}

/// This machine's fingerprint (`MAC|disk|board|CPU`).
#[napi]
pub fn fingerprint() -> Result<String, Code> {
    Fingerprint::collect()
        .map(|f| f.to_string())
        .map_err(|e| fail("FingerprintUnavailable", e))
}

/// An activation request (`lor1.…`) for an air-gapped machine.
#[napi]
pub fn offline_request(
    token: String,
    state_dir: String,
    fingerprint: Option<String>,
) -> Result<String, Code> {
    let Some(fp) = device(fingerprint.as_deref(), false)? else {
        return Err(fail("FingerprintUnavailable", "no fingerprint"));
    };
    OfflineState::open(state_dir)
        .and_then(|s| s.request(&token, &fp))
        .map_err(|e| fail(e.name(), e))
}

/// A deactivation receipt (`ldr1.…`) giving back this machine's seat.
#[napi]
pub fn offline_receipt(state_dir: String) -> Result<String, Code> {
    OfflineState::open(state_dir)
        .and_then(|s| s.receipt())
        .map_err(|e| fail(e.name(), e))
}
