//! The Python binding of client-verifier: the extension module `client_verifier._native`, which
//! the package `client_verifier` re-exports (see `python/client_verifier/__init__.py` and its
//! `.pyi` stubs for the documented API).
//!
//! It wraps the Rust API directly, not the C ABI: no handles to free, Python strings in and out,
//! errors as one exception type whose `name` is the C ABI's result name, so a verdict reads the
//! same in every language. Verification releases the GIL.

use std::sync::{Mutex, PoisonError, RwLock};

use client_verifier::lease_client::{LeaseClient as CoreLeaseClient, LeaseConfig};
use client_verifier::offline::state::OfflineState;
use client_verifier::{
    BindingRequirement, Fingerprint, MatchPolicy, PublicKey, Root, TimeGuard, Timestamp,
    VerifiedLease, VerifiedLicense, Verifier as CoreVerifier,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    client_verifier,
    ClientVerifierError,
    PyException,
    "A license, key, fingerprint or argument was refused. `name` is the reason's stable name \
     (`DeviceMismatch`, `Revoked`, `BadKey`, …), as the C ABI's result names."
);

/// The exception for `name`, with `message` as its text and `.name` set.
fn error(py: Python<'_>, name: &'static str, message: impl std::fmt::Display) -> PyErr {
    let err = ClientVerifierError::new_err(message.to_string());
    // Setting an attribute on a fresh exception instance cannot fail but for memory.
    let _ = err.value(py).setattr("name", name);
    err
}

/// A fingerprint given as text, or this machine's when `None`. `collect_quietly`: as the C ABI
/// does for verification, a machine whose fingerprint cannot be read verifies with no device
/// (a bound license then fails with `DeviceMismatch`); elsewhere it is an error.
fn device(
    py: Python<'_>,
    text: Option<&str>,
    collect_quietly: bool,
) -> PyResult<Option<Fingerprint>> {
    match text {
        Some(t) => Fingerprint::parse(t)
            .map(Some)
            .map_err(|e| error(py, "BadFingerprint", e)),
        None if collect_quietly => Ok(Fingerprint::collect().ok()),
        None => Fingerprint::collect()
            .map(Some)
            .map_err(|e| error(py, "FingerprintUnavailable", e)),
    }
}

/// `now` as a timestamp: `None` (the system clock), seconds since 1970 (an `int`), or an aware
/// `datetime`. A naive `datetime` is refused: it could mean any time zone.
fn instant(now: Option<&Bound<'_, PyAny>>) -> PyResult<Timestamp> {
    let Some(now) = now else {
        return Ok(Timestamp::now());
    };
    if let Ok(secs) = now.extract::<i64>() {
        return Ok(Timestamp::from_unix(secs));
    }
    if now.hasattr("tzinfo")? {
        if now.getattr("tzinfo")?.is_none() {
            return Err(error(
                now.py(),
                "InvalidArgument",
                "now is a naive datetime: give it a time zone (datetime.timezone.utc)",
            ));
        }
        let secs: f64 = now.call_method0("timestamp")?.extract()?;
        return Ok(Timestamp::from_unix(secs.floor() as i64));
    }
    Err(error(
        now.py(),
        "InvalidArgument",
        "now is neither an int (seconds since 1970) nor a datetime",
    ))
}

/// An aware UTC `datetime` for `t`.
fn datetime(py: Python<'_>, t: Timestamp) -> PyResult<Bound<'_, PyAny>> {
    let module = py.import("datetime")?;
    let utc = module.getattr("timezone")?.getattr("utc")?;
    module
        .getattr("datetime")?
        .call_method1("fromtimestamp", (t.unix(), utc))
}

/// A JSON text as Python values.
fn json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// Locks that a panic elsewhere left poisoned still guard consistent data: every change under
/// them is one assignment.
fn unpoison<G>(r: Result<G, PoisonError<G>>) -> G {
    r.unwrap_or_else(PoisonError::into_inner)
}

/// What the application keeps between runs: the latest time seen (clock rollback), the newest
/// revocation list, key revocation statement and root version accepted. Save `encode()` after
/// each verification; give the text back to `State(text)` at the next start.
#[pyclass(module = "client_verifier", name = "State", frozen)]
#[derive(Debug)]
struct State {
    inner: Mutex<TimeGuard>,
}

#[pymethods]
impl State {
    #[new]
    #[pyo3(signature = (text=None))]
    fn new(py: Python<'_>, text: Option<&str>) -> PyResult<Self> {
        let guard = match text {
            None => TimeGuard::default(),
            Some(t) => TimeGuard::decode(t).ok_or_else(|| {
                error(
                    py,
                    "InvalidArgument",
                    "not a saved state (tg1./tg2./tg3. text)",
                )
            })?,
        };
        Ok(State {
            inner: Mutex::new(guard),
        })
    }

    /// The text to save.
    fn encode(&self) -> String {
        unpoison(self.inner.lock()).encode()
    }

    #[getter]
    fn last_seen<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = unpoison(self.inner.lock()).last_seen();
        datetime(py, t)
    }

    #[getter]
    fn revocation_seq(&self) -> u64 {
        unpoison(self.inner.lock()).revocation_seq()
    }

    #[getter]
    fn key_revocation_seq(&self) -> u64 {
        unpoison(self.inner.lock()).key_revocation_seq()
    }

    #[getter]
    fn root_version(&self) -> u32 {
        unpoison(self.inner.lock()).root_version()
    }

    fn __repr__(&self) -> String {
        format!("State({:?})", self.encode())
    }
}

/// Checks licenses offline: trusts the ISV's public keys (or its root), accepts only the issuer
/// and product given.
#[pyclass(module = "client_verifier", name = "Verifier", frozen)]
#[derive(Debug)]
struct Verifier {
    inner: RwLock<CoreVerifier>,
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (public_keys=Vec::new(), issuer=None, product=None, *, root=None,
        binding_optional=false, match_all=false, min_revocation_seq=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        public_keys: Vec<String>,
        issuer: Option<String>,
        product: Option<String>,
        root: Option<&str>,
        binding_optional: bool,
        match_all: bool,
        min_revocation_seq: u64,
    ) -> PyResult<Self> {
        let (Some(issuer), Some(product)) = (issuer, product) else {
            return Err(error(
                py,
                "InvalidArgument",
                "issuer and product are required: a verifier that accepted any would accept \
                 another ISV's or another product's licenses",
            ));
        };
        if public_keys.is_empty() && root.is_none() {
            return Err(error(
                py,
                "InvalidArgument",
                "trust at least one public key (public_keys=[...]) or a root (root=...)",
            ));
        }
        let mut b = CoreVerifier::builder()
            .issuer(issuer)
            .product(product)
            .min_revocation_seq(min_revocation_seq);
        for (i, k) in public_keys.iter().enumerate() {
            let key = PublicKey::from_paserk(k)
                .map_err(|e| error(py, "BadKey", format!("public_keys[{i}]: {e}")))?;
            b = b.trust(key);
        }
        if let Some(root) = root {
            let root = Root::from_json(root).map_err(|e| error(py, "BadKey", e))?;
            b = b.trust_root(root);
        }
        if binding_optional {
            b = b.binding(BindingRequirement::Optional);
        }
        if match_all {
            b = b.match_policy(MatchPolicy::All);
        }
        Ok(Verifier {
            inner: RwLock::new(b.build()),
        })
    }

    /// Verifies a license token on this machine (or the machine `fingerprint` names) at `now`.
    #[pyo3(signature = (token, fingerprint=None, now=None, state=None))]
    fn verify(
        &self,
        py: Python<'_>,
        token: &str,
        fingerprint: Option<&str>,
        now: Option<&Bound<'_, PyAny>>,
        state: Option<&State>,
    ) -> PyResult<License> {
        let device = device(py, fingerprint, true)?;
        let now = instant(now)?;
        let result = py.detach(|| {
            let v = unpoison(self.inner.read());
            match state {
                Some(s) => v.verify_guarded(
                    token,
                    device.as_ref(),
                    now,
                    &mut s.inner.lock().unwrap_or_else(PoisonError::into_inner),
                ),
                None => v.verify(token, device.as_ref(), now),
            }
        });
        result
            .map(|inner| License { inner })
            .map_err(|e| error(py, e.name(), e))
    }

    /// Verifies a floating license's lease (from the lease client or `POST /v1/leases`).
    #[pyo3(signature = (token, fingerprint=None, now=None))]
    fn verify_lease(
        &self,
        py: Python<'_>,
        token: &str,
        fingerprint: Option<&str>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Lease> {
        let device = device(py, fingerprint, true)?;
        let now = instant(now)?;
        let result =
            py.detach(|| unpoison(self.inner.read()).verify_lease(token, device.as_ref(), now));
        result
            .map(|inner| Lease { inner })
            .map_err(|e| error(py, e.name(), e))
    }

    /// Loads a signed revocation list; returns its sequence number. With `state`, a list older
    /// than the newest accepted there is refused (`StaleRevocationList`) and the state advances.
    #[pyo3(signature = (token, state=None))]
    fn load_revocations(
        &self,
        py: Python<'_>,
        token: &str,
        state: Option<&State>,
    ) -> PyResult<u64> {
        let mut v = unpoison(self.inner.write());
        let result = match state {
            Some(s) => v.load_revocations_guarded(
                token,
                &mut s.inner.lock().unwrap_or_else(PoisonError::into_inner),
            ),
            None => v.load_revocations(token),
        };
        result.map_err(|e| error(py, e.name(), e))
    }

    /// Loads the root's statement of revoked issuing keys; `state` keeps the newest accepted.
    fn load_key_revocations(
        &self,
        py: Python<'_>,
        statement: &str,
        state: &State,
    ) -> PyResult<u64> {
        unpoison(self.inner.write())
            .load_key_revocations_guarded(
                statement,
                &mut state.inner.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .map_err(|e| error(py, e.name(), e))
    }

    /// The sequence number of the newest revocation list loaded or accepted before.
    #[getter]
    fn revocation_seq(&self) -> u64 {
        unpoison(self.inner.read()).revocation_seq()
    }
}

/// A license that verified: its status, dates, identity and entitlements. Frozen and expired
/// licenses verify too: read `status`.
#[pyclass(module = "client_verifier", name = "License", frozen)]
#[derive(Debug)]
struct License {
    inner: VerifiedLicense,
}

#[pymethods]
impl License {
    /// `active`, `frozen`, `expired`, `check_in_required` or `lease_required`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status().name()
    }

    #[getter]
    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.inner.claims().exp)
    }

    #[getter]
    fn freeze_until<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.inner.claims().freeze_until)
    }

    #[getter]
    fn check_in_by<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .check_in_by()
            .map(|t| datetime(py, t))
            .transpose()
    }

    #[getter]
    fn id(&self) -> &str {
        &self.inner.claims().jti
    }

    #[getter]
    fn customer(&self) -> &str {
        &self.inner.claims().sub
    }

    #[getter]
    fn issuer(&self) -> &str {
        &self.inner.claims().iss
    }

    #[getter]
    fn product(&self) -> &str {
        &self.inner.claims().product
    }

    #[getter]
    fn sku(&self) -> &str {
        &self.inner.claims().sku
    }

    #[getter]
    fn order(&self) -> &str {
        &self.inner.claims().order
    }

    #[getter]
    fn revision(&self) -> u32 {
        self.inner.claims().revision
    }

    #[getter]
    fn quantity(&self) -> u32 {
        self.inner.claims().quantity
    }

    #[getter]
    fn edition(&self) -> Option<&str> {
        self.inner.edition()
    }

    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id().to_string()
    }

    /// `"direct"` or `"trial"` for a license the ISV issued itself; `None` for a marketplace one.
    #[getter]
    fn origin(&self) -> Option<&str> {
        self.inner.origin()
    }

    /// An evaluation the ISV issued: show the user it is one.
    #[getter]
    fn is_trial(&self) -> bool {
        self.inner.is_trial()
    }

    #[getter]
    fn entitlements<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = serde_json::to_string(&self.inner.claims().entitlements)
            .map_err(|e| error(py, "Internal", e))?;
        json(py, &text)
    }

    /// Whether the feature flag `name` is on.
    fn feature(&self, name: &str) -> bool {
        self.inner.feature(name)
    }

    /// The integer limit `name`, or `None` when the license sets none.
    fn limit(&self, name: &str) -> Option<i64> {
        self.inner.limit(name)
    }

    fn __repr__(&self) -> String {
        format!(
            "License(id={:?}, status={:?}, expires_at={})",
            self.inner.claims().jti,
            self.status(),
            self.inner.claims().exp
        )
    }
}

/// A verified lease of a floating license's seat.
#[pyclass(module = "client_verifier", name = "Lease", frozen)]
#[derive(Debug)]
struct Lease {
    inner: VerifiedLease,
}

#[pymethods]
impl Lease {
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.inner.expires_at())
    }

    #[getter]
    fn id(&self) -> &str {
        &self.inner.claims().jti
    }

    #[getter]
    fn license(&self) -> &str {
        &self.inner.claims().lic
    }

    #[getter]
    fn seat(&self) -> u32 {
        self.inner.claims().seat
    }

    #[getter]
    fn instance(&self) -> &str {
        &self.inner.claims().instance
    }

    #[getter]
    fn borrowed(&self) -> bool {
        self.inner.claims().borrowed
    }

    #[getter]
    fn edition(&self) -> Option<&str> {
        self.inner.claims().edition.as_deref()
    }

    fn feature(&self, name: &str) -> bool {
        self.inner.feature(name)
    }

    fn limit(&self, name: &str) -> Option<i64> {
        self.inner.limit(name)
    }
}

/// A floating license's seat, leased from licd and renewed on a thread of its own until
/// `close()` (or the end of a `with` block) gives it back.
#[pyclass(module = "client_verifier", name = "LeaseClient", frozen)]
#[derive(Debug)]
struct LeaseClient {
    inner: Mutex<Option<CoreLeaseClient>>,
}

#[pymethods]
impl LeaseClient {
    #[new]
    #[pyo3(signature = (verifier, server, license, instance, *, fingerprint=None, ca_pem=None,
        allow_plain_http=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        verifier: &Verifier,
        server: String,
        license: String,
        instance: String,
        fingerprint: Option<&str>,
        ca_pem: Option<String>,
        allow_plain_http: bool,
    ) -> PyResult<Self> {
        let Some(device) = device(py, fingerprint, false)? else {
            return Err(error(py, "FingerprintUnavailable", "no fingerprint"));
        };
        let mut config = LeaseConfig::new(server, license, instance, device);
        config.allow_plain_http = allow_plain_http;
        config.ca_pem = ca_pem.map(String::into_bytes);
        let verifier = unpoison(verifier.inner.read()).clone();
        let client = py
            .detach(|| CoreLeaseClient::acquire(config, verifier))
            .map_err(|e| error(py, e.name(), e))?;
        Ok(LeaseClient {
            inner: Mutex::new(Some(client)),
        })
    }

    /// Whether the program may use its licensed features now.
    #[getter]
    fn valid(&self) -> bool {
        unpoison(self.inner.lock())
            .as_ref()
            .is_some_and(CoreLeaseClient::is_valid)
    }

    /// `leased`, `renewing`, `lost`, `refused`, or `closed`.
    #[getter]
    fn state(&self) -> &'static str {
        unpoison(self.inner.lock())
            .as_ref()
            .map_or("closed", |c| c.status().state.name())
    }

    /// The lease held, verified, or `None`.
    #[getter]
    fn lease(&self) -> Option<Lease> {
        unpoison(self.inner.lock())
            .as_ref()
            .and_then(CoreLeaseClient::verified)
            .map(|inner| Lease { inner })
    }

    /// The lease token held, or `None`.
    #[getter]
    fn token(&self) -> Option<String> {
        unpoison(self.inner.lock())
            .as_ref()
            .and_then(CoreLeaseClient::token)
    }

    /// Gives the seat back now and stops renewing. Idempotent.
    fn close(&self, py: Python<'_>) {
        let client = unpoison(self.inner.lock()).take();
        if let Some(c) = client {
            py.detach(|| c.release());
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }
}

/// This machine's fingerprint (`MAC|disk|board|CPU`).
#[pyfunction]
fn fingerprint(py: Python<'_>) -> PyResult<String> {
    Fingerprint::collect()
        .map(|f| f.to_string())
        .map_err(|e| error(py, "FingerprintUnavailable", e))
}

/// An activation request (`lor1.…`) for an air-gapped machine, signed with the device key kept
/// in `state_dir`.
#[pyfunction]
#[pyo3(signature = (token, state_dir, fingerprint=None))]
fn offline_request(
    py: Python<'_>,
    token: &str,
    state_dir: &str,
    fingerprint: Option<&str>,
) -> PyResult<String> {
    let Some(fp) = device(py, fingerprint, false)? else {
        return Err(error(py, "FingerprintUnavailable", "no fingerprint"));
    };
    OfflineState::open(state_dir)
        .and_then(|s| s.request(token, &fp))
        .map_err(|e| error(py, e.name(), e))
}

/// A deactivation receipt (`ldr1.…`) giving back this machine's seat.
#[pyfunction]
fn offline_receipt(py: Python<'_>, state_dir: &str) -> PyResult<String> {
    OfflineState::open(state_dir)
        .and_then(|s| s.receipt())
        .map_err(|e| error(py, e.name(), e))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "ClientVerifierError",
        m.py().get_type::<ClientVerifierError>(),
    )?;
    m.add_class::<Verifier>()?;
    m.add_class::<License>()?;
    m.add_class::<Lease>()?;
    m.add_class::<State>()?;
    m.add_class::<LeaseClient>()?;
    m.add_function(wrap_pyfunction!(fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(offline_request, m)?)?;
    m.add_function(wrap_pyfunction!(offline_receipt, m)?)?;
    Ok(())
}
