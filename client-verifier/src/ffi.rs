//! A stable C ABI over [`Verifier`], for applications not written in Rust (feature `ffi`).
//!
//! This module owns the `cv_*` symbols, their error codes and the handles they hand out; it adds
//! no verification logic of its own. The header `include/client_verifier.h` is generated from
//! this file by cbindgen and checked in; `tests/ffi_header.rs` fails when it is stale.
//!
//! Rules every entry point follows, so a C caller can rely on them:
//! - No panic crosses the boundary: each body runs under `catch_unwind` and a panic becomes
//!   [`CvResult::Internal`].
//! - A NULL handle, a handle that is freed, of the wrong kind or not made here, a NULL or
//!   misaligned out-parameter, a string that is not UTF-8 or is longer than
//!   [`CV_MAX_STRING_LEN`] bytes, and a bad count return an error code; nothing is written to the
//!   out-parameters then. Handles are looked up in a registry before use, never trusted blindly;
//!   freeing NULL, a freed handle or a foreign pointer does nothing.
//! - Functions returning [`CvResult`] record a message for the calling thread on failure and clear
//!   it on success ([`cv_last_error_message`]).
//! - Whatever the library allocates has one `cv_*_free` function, and every free accepts NULL.
//!
//! Handles: a [`CvVerifier`] may be shared between threads (revocation loading takes a write
//! lock, verification a read lock). A [`CvLicense`] is immutable and may be read from any thread.

// The C ABI cannot be written without `unsafe`: exported unmangled symbols, and reading the raw
// pointers C passes in. Every dereference goes through the checked helpers below.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use crate::{
    BindingRequirement, Fingerprint, LicenseStatus, MatchPolicy, PublicKey, TimeGuard, Timestamp,
    VerifiedLicense, Verifier, VerifierBuilder, VerifyError,
};

/// The version of this C ABI. It changes only when an existing function, type or code changes
/// meaning or signature; adding functions, codes or flags keeps it.
pub const CV_ABI_VERSION: u32 = 1;

/// The longest string any function reads, in bytes without the terminating NUL. A string with no
/// NUL within this many bytes is refused rather than read further.
pub const CV_MAX_STRING_LEN: usize = 1 << 20;

/// The most public keys one verifier trusts.
pub const CV_MAX_KEYS: usize = 64;

/// Flag for [`cv_verifier_new`]: accept licenses not bound to a device (bound ones are still
/// matched). Without it, an unbound license fails with [`CvResult::NotBound`].
pub const CV_FLAG_BINDING_OPTIONAL: u32 = 1;

/// Flag for [`cv_verifier_new`]: every component bound in the license must still match the
/// device, instead of the tolerant default (two of them).
pub const CV_FLAG_MATCH_ALL: u32 = 2;

const KNOWN_FLAGS: u32 = CV_FLAG_BINDING_OPTIONAL | CV_FLAG_MATCH_ALL;

/// What a `cv_*` call returned. `CV_RESULT_OK` is 0; argument errors are below 100; a license
/// that did not verify gives 100 and up, one code per reason. Treat unknown codes as failures:
/// later versions may add codes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CvResult {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument is out of range: a key count, unknown flags, a string longer than
    /// `CV_MAX_STRING_LEN`, a misaligned pointer, or a handle that is freed, of the wrong kind
    /// or not made by this library.
    InvalidArgument = 3,
    /// A public key is not a valid PASERK `k4.public` string.
    BadKey = 4,
    /// A fingerprint string cannot be used (empty or too long).
    BadFingerprint = 5,
    /// This machine's fingerprint could not be read.
    FingerprintUnavailable = 6,
    /// A bug in the library (a caught panic). The handles involved are still safe to free.
    Internal = 7,
    /// The offline state directory cannot be read or written, or holds no activation to give
    /// back.
    OfflineState = 8,
    /// The token is not an unbound licd license, so no offline request can be made with it.
    NotALicense = 9,
    /// Not a well-formed token: header, encoding, JSON, a missing claim.
    Malformed = 100,
    /// The signature does not verify with the key the token names.
    BadSignature = 101,
    /// The token names a key the verifier does not trust.
    UnknownKey = 102,
    /// Signed for another issuer.
    WrongIssuer = 103,
    /// A license for another product.
    WrongProduct = 104,
    /// Valid only from a later time.
    NotYetValid = 105,
    /// Bound to another device.
    DeviceMismatch = 106,
    /// Not bound to a device, and the verifier requires binding.
    NotBound = 107,
    /// On the revocation list.
    Revoked = 108,
    /// The clock is behind a time already seen.
    ClockRollback = 109,
    /// A revocation list older than the one in use.
    StaleRevocationList = 110,
    /// Under a trusted root: the token's certificate does not chain to it, or the token is
    /// outside what the certificate grants.
    Uncertified = 111,
    /// A lease that has ended: renew it, or lease a seat again.
    LeaseEnded = 112,
    /// Every seat of the floating license is leased: try again later
    /// ([`cv_lease_client_acquire`]; the message says when the next one frees).
    SeatsTaken = 113,
    /// The license server refused the lease for good: the license is revoked, frozen, not
    /// floating, or the license token is not one it issued (the message says which).
    LeaseRefused = 114,
    /// The license server could not be reached, or failed: try again later.
    ServerUnreachable = 115,
}

/// Where a verified license stands.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CvStatus {
    /// In force: full function until the expiry time.
    Active = 1,
    /// Locked but data kept until the freeze end; a renewal before then unfreezes it.
    Frozen = 2,
    /// Past the freeze window.
    Expired = 3,
    /// Paid for, but the machine missed its check-in deadline: ask the user to connect to the
    /// internet so the application can refresh its license (not to buy again).
    CheckInRequired = 4,
    /// A floating license in force until the expiry time: not permission to run by itself.
    /// The application leases a seat with it and runs on the lease.
    LeaseRequired = 5,
}

/// A verifier: trusted keys, expected issuer and product, the revocation list in use. Made by
/// [`cv_verifier_new`], released by [`cv_verifier_free`].
#[derive(Debug)]
pub struct CvVerifier {
    inner: RwLock<Verifier>,
}

/// A license that passed verification, and what it says. Made by [`cv_verify`] or
/// [`cv_verify_now`], released by [`cv_license_free`].
#[derive(Debug)]
pub struct CvLicense {
    status: CvStatus,
    expires_at: i64,
    freeze_until: i64,
    revision: u32,
    quantity: u32,
    id: CString,
    entitlements: CString,
    /// 0 when the product requires no check-in.
    check_in_by: i64,
    /// Empty when the issuer names no edition.
    edition: CString,
    /// Empty for a marketplace license; `direct` or `trial` for one the ISV issued.
    origin: CString,
    /// The entitlements, for the typed accessors.
    entitlement_map: crate::Entitlements,
}

/// A failed call: the code to return and the message to keep for the thread.
struct Failure {
    code: CvResult,
    message: String,
}

impl Failure {
    fn new(code: CvResult, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        let code = match e {
            VerifyError::Malformed { .. } => CvResult::Malformed,
            VerifyError::BadSignature => CvResult::BadSignature,
            VerifyError::UnknownKey { .. } => CvResult::UnknownKey,
            VerifyError::WrongIssuer { .. } => CvResult::WrongIssuer,
            VerifyError::WrongProduct { .. } => CvResult::WrongProduct,
            VerifyError::NotYetValid { .. } => CvResult::NotYetValid,
            VerifyError::DeviceMismatch { .. } => CvResult::DeviceMismatch,
            VerifyError::NotBound => CvResult::NotBound,
            VerifyError::Revoked { .. } => CvResult::Revoked,
            VerifyError::ClockRollback { .. } => CvResult::ClockRollback,
            VerifyError::StaleRevocationList { .. } => CvResult::StaleRevocationList,
            VerifyError::Uncertified { .. } => CvResult::Uncertified,
            VerifyError::LeaseEnded { .. } => CvResult::LeaseEnded,
        };
        Failure::new(code, e.to_string())
    }
}

std::thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: Option<&str>) {
    let message = message.map(|m| {
        // A message can quote token content, which may hold a NUL; C would cut it there.
        CString::new(m.replace('\0', "\\0")).unwrap_or_default()
    });
    // Fails only while the thread is being torn down; there is no one left to read it then.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = message);
}

/// Runs an entry point's body: no panic escapes, and the thread's last error is set or cleared.
fn entry(body: impl FnOnce() -> Result<(), Failure>) -> CvResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error(None);
            CvResult::Ok
        }
        Ok(Err(failure)) => {
            set_last_error(Some(&failure.message));
            failure.code
        }
        Err(_) => {
            set_last_error(Some("internal error in client-verifier (panic caught)"));
            CvResult::Internal
        }
    }
}

/// Reads a NUL-terminated UTF-8 string, scanning at most [`CV_MAX_STRING_LEN`] bytes for the NUL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string (or to at least `CV_MAX_STRING_LEN + 1`
/// readable bytes) that outlives `'a`.
unsafe fn read_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::new(
            CvResult::NullPointer,
            std::format!("{what} is NULL"),
        ));
    }
    let mut len = 0;
    // SAFETY: the caller promises readable bytes up to the NUL; we stop at the NUL or the limit.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
        if len > CV_MAX_STRING_LEN {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                std::format!("{what} is longer than {CV_MAX_STRING_LEN} bytes"),
            ));
        }
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            CvResult::InvalidUtf8,
            std::format!(
                "{what} is not UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Checks an out-parameter before anything is computed for it.
fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        Err(Failure::new(
            CvResult::NullPointer,
            std::format!("{what} is NULL"),
        ))
    } else if !p.is_aligned() {
        Err(Failure::new(
            CvResult::InvalidArgument,
            std::format!("{what} is not aligned"),
        ))
    } else {
        Ok(p)
    }
}

/// What a live pointer handed to C is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Verifier,
    License,
    String,
    Guard,
    #[cfg_attr(not(feature = "lease-client"), allow(dead_code))]
    LeaseClient,
}

/// Every pointer this library has handed out and not yet had back. A handle is checked here
/// before it is dereferenced, so a freed, foreign or wrong-kind pointer is refused with a code
/// (and a double free is ignored) instead of being read. One uncontended lock per call is nothing
/// beside a signature check.
///
/// Addresses are stored complemented ([`key`]): a leak checker such as valgrind scans memory for
/// pointers, and a plain address here would make a handle C forgot to free look still reachable.
static LIVE: Mutex<BTreeSet<(usize, Kind)>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<(usize, Kind)>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The registry's entry for a pointer: its address complemented, so it is not a pointer.
fn key<T>(p: *const T, kind: Kind) -> (usize, Kind) {
    (!(p as usize), kind)
}

/// A handle type C holds a pointer to.
trait Handle {
    const KIND: Kind;
    const NAME: &'static str;
}

impl Handle for CvVerifier {
    const KIND: Kind = Kind::Verifier;
    const NAME: &'static str = "verifier";
}

impl Handle for CvLicense {
    const KIND: Kind = Kind::License;
    const NAME: &'static str = "license";
}

impl Handle for CvGuard {
    const KIND: Kind = Kind::Guard;
    const NAME: &'static str = "guard";
}

/// Hands a new handle to C.
fn into_handle<T: Handle>(value: T) -> *mut T {
    let p = Box::into_raw(Box::new(value));
    live().insert(key(p, T::KIND));
    p
}

/// Borrows a handle this library made and has not freed.
///
/// # Safety
/// No other thread frees the handle while the borrow lasts.
unsafe fn handle<'a, T: Handle>(p: *const T) -> Result<&'a T, Failure> {
    if p.is_null() {
        return Err(Failure::new(
            CvResult::NullPointer,
            std::format!("{} is NULL", T::NAME),
        ));
    }
    if !live().contains(&key(p, T::KIND)) {
        return Err(Failure::new(
            CvResult::InvalidArgument,
            std::format!(
                "not a live {} handle (freed, or not made by this library)",
                T::NAME
            ),
        ));
    }
    // SAFETY: registered by `into_handle` and not yet freed, so it is a live `Box<T>`.
    Ok(unsafe { &*p })
}

/// Takes a handle back from C and drops it; NULL, foreign and already freed pointers are ignored.
///
/// # Safety
/// No other thread is using the handle.
unsafe fn free_handle<T: Handle>(p: *mut T) {
    if p.is_null() || !live().remove(&key(p, T::KIND)) {
        return;
    }
    // SAFETY: it was registered by `into_handle` (so came from `Box::into_raw`) and is
    // unregistered now, so this is the only free.
    drop(unsafe { Box::from_raw(p) });
}

/// The version of the C ABI this library implements ([`CV_ABI_VERSION`]). Check it at start
/// against the header's `CV_ABI_VERSION`.
#[unsafe(no_mangle)]
pub extern "C" fn cv_abi_version() -> u32 {
    CV_ABI_VERSION
}

/// The message describing why the last failed call on this thread failed, or NULL when the last
/// call returning a result succeeded (or none was made).
///
/// The string belongs to the library and stays valid until the next call returning a
/// `cv_result` on the same thread. Each thread has its own message.
#[unsafe(no_mangle)]
pub extern "C" fn cv_last_error_message() -> *const c_char {
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|slot| {
                slot.borrow()
                    .as_ref()
                    .map_or(core::ptr::null(), |m| m.as_ptr())
            })
            .unwrap_or(core::ptr::null())
    })
    .unwrap_or(core::ptr::null())
}

/// A stable name for a result code (`"Ok"`, `"DeviceMismatch"`, …), for logs; `"Unknown"` for a
/// code this version does not know. The string is static.
#[unsafe(no_mangle)]
pub extern "C" fn cv_result_name(code: i32) -> *const c_char {
    let name: &'static CStr = match code {
        0 => c"Ok",
        1 => c"NullPointer",
        2 => c"InvalidUtf8",
        3 => c"InvalidArgument",
        4 => c"BadKey",
        5 => c"BadFingerprint",
        6 => c"FingerprintUnavailable",
        7 => c"Internal",
        8 => c"OfflineState",
        9 => c"NotALicense",
        100 => c"Malformed",
        101 => c"BadSignature",
        102 => c"UnknownKey",
        103 => c"WrongIssuer",
        104 => c"WrongProduct",
        105 => c"NotYetValid",
        106 => c"DeviceMismatch",
        107 => c"NotBound",
        108 => c"Revoked",
        109 => c"ClockRollback",
        110 => c"StaleRevocationList",
        111 => c"Uncertified",
        112 => c"LeaseEnded",
        113 => c"SeatsTaken",
        114 => c"LeaseRefused",
        115 => c"ServerUnreachable",
        _ => c"Unknown",
    };
    name.as_ptr()
}

/// Makes a verifier that trusts `key_count` PASERK `k4.public` keys and accepts only licenses
/// from `issuer` for `product`.
///
/// `flags` is 0 or a combination of `CV_FLAG_*`. `min_revocation_seq` is the highest
/// revocation-list sequence number the application has accepted before (0 the first time), so an
/// older list cannot be loaded again. On success `*out` holds a verifier to free with
/// [`cv_verifier_free`].
///
/// # Safety
/// `public_keys` points to `key_count` string pointers; every non-NULL string pointer is
/// NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_new(
    public_keys: *const *const c_char,
    key_count: usize,
    issuer: *const c_char,
    product: *const c_char,
    flags: u32,
    min_revocation_seq: u64,
    out: *mut *mut CvVerifier,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        if public_keys.is_null() {
            return Err(Failure::new(CvResult::NullPointer, "public_keys is NULL"));
        }
        if !public_keys.is_aligned() {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                "public_keys is not aligned",
            ));
        }
        if key_count == 0 || key_count > CV_MAX_KEYS {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                std::format!("key_count is {key_count}, must be 1 to {CV_MAX_KEYS}"),
            ));
        }
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                std::format!("unknown flags {:#x}", flags & !KNOWN_FLAGS),
            ));
        }
        // SAFETY: checked non-null and aligned; the caller promises `key_count` entries.
        let keys = unsafe { std::slice::from_raw_parts(public_keys, key_count) };
        let mut builder = Verifier::builder();
        for (i, &k) in keys.iter().enumerate() {
            // SAFETY: the caller promises each entry is NULL or a NUL-terminated string.
            let paserk = unsafe { read_str(k, &std::format!("public_keys[{i}]")) }?;
            let key = PublicKey::from_paserk(paserk).map_err(|e| {
                Failure::new(CvResult::BadKey, std::format!("public_keys[{i}]: {e}"))
            })?;
            builder = builder.trust(key);
        }
        // SAFETY: the caller promises NUL-terminated strings.
        let issuer = unsafe { read_str(issuer, "issuer") }?;
        // SAFETY: as above.
        let product = unsafe { read_str(product, "product") }?;
        builder = builder
            .issuer(issuer)
            .product(product)
            .min_revocation_seq(min_revocation_seq);
        let verifier = into_handle(CvVerifier {
            inner: RwLock::new(with_flags(builder, flags).build()),
        });
        // SAFETY: `out` was checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(verifier) };
        Ok(())
    })
}

/// Makes a verifier that trusts the root in `root_json` (a `root.json` document, as `licctl root
/// init` prints it, or the newest one the application stored) instead of issuing keys: a token
/// verifies when the certificate in its footer chains to that root and the token lies within
/// what the certificate grants. Otherwise as [`cv_verifier_new`]. A document that is not a
/// valid root (its own threshold of signatures missing) fails with `CV_RESULT_UNCERTIFIED`.
///
/// # Safety
/// Every non-NULL string pointer is NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_new_rooted(
    root_json: *const c_char,
    issuer: *const c_char,
    product: *const c_char,
    flags: u32,
    min_revocation_seq: u64,
    out: *mut *mut CvVerifier,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                std::format!("unknown flags {:#x}", flags & !KNOWN_FLAGS),
            ));
        }
        // SAFETY: the caller promises NUL-terminated strings.
        let root_json = unsafe { read_str(root_json, "root_json") }?;
        let root = crate::Root::from_json(root_json)
            .map_err(|e| Failure::new(CvResult::Uncertified, std::format!("root_json: {e}")))?;
        // SAFETY: as above.
        let issuer = unsafe { read_str(issuer, "issuer") }?;
        // SAFETY: as above.
        let product = unsafe { read_str(product, "product") }?;
        let builder = Verifier::builder()
            .trust_root(root)
            .issuer(issuer)
            .product(product)
            .min_revocation_seq(min_revocation_seq);
        let verifier = into_handle(CvVerifier {
            inner: RwLock::new(with_flags(builder, flags).build()),
        });
        // SAFETY: `out` was checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(verifier) };
        Ok(())
    })
}

/// `builder` with what `flags` (`CV_FLAG_*`, already checked against `KNOWN_FLAGS`) ask for.
fn with_flags(mut builder: VerifierBuilder, flags: u32) -> VerifierBuilder {
    if flags & CV_FLAG_BINDING_OPTIONAL != 0 {
        builder = builder.binding(BindingRequirement::Optional);
    }
    if flags & CV_FLAG_MATCH_ALL != 0 {
        builder = builder.match_policy(MatchPolicy::All);
    }
    builder
}

/// Frees a verifier. NULL, an already freed handle and a pointer not made here are ignored.
///
/// # Safety
/// No other thread is using the verifier.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_free(verifier: *mut CvVerifier) {
    let _ = catch_unwind(|| {
        // SAFETY: forwarded from the caller.
        unsafe { free_handle(verifier) }
    });
}

/// Loads a signed revocation list (`licctl revocations export`, or the one shipped with an
/// update), replacing the one in use if it is not older.
///
/// On success, if `seq_out` is not NULL, writes the list's sequence number: persist it and pass
/// it as `min_revocation_seq` next time. An older list fails with `CV_RESULT_STALE_REVOCATION_LIST`
/// and leaves the current one in force. Loading the same list again succeeds.
///
/// # Safety
/// `verifier` may be any pointer (it is checked before use) but must not be freed by
/// another thread during the call; `list` is NULL or NUL-terminated; `seq_out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_load_revocations(
    verifier: *const CvVerifier,
    list: *const c_char,
    seq_out: *mut u64,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        let v = unsafe { handle(verifier) }?;
        // SAFETY: forwarded from the caller.
        let list = unsafe { read_str(list, "list") }?;
        let seq_out = if seq_out.is_null() {
            None
        } else {
            Some(out_ptr(seq_out, "seq_out")?)
        };
        let seq = v
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .load_revocations(list)?;
        if let Some(p) = seq_out {
            // SAFETY: checked non-null and aligned; the caller promises it is writable.
            unsafe { p.write(seq) };
        }
        Ok(())
    })
}

/// Verifies `token` for a device at `unix_time` (seconds since 1970-01-01 UTC).
///
/// `fingerprint` is the device's fingerprint string (`MAC|disk|board|CPU`, or an opaque value);
/// NULL means this machine's, read now (if it cannot be read, the check runs with no device and a
/// device-bound license fails with `CV_RESULT_DEVICE_MISMATCH`).
///
/// `guard_last_seen`, when not NULL, is the clock-rollback guard: the latest Unix time the
/// application has seen, as persisted from the last run (0 the first time). A time more than a
/// day behind it fails with `CV_RESULT_CLOCK_ROLLBACK`; otherwise it is moved forward to
/// `unix_time`. Persist it after the call, whatever the result.
///
/// On success `*out` holds the verified license, to free with [`cv_license_free`]; frozen and
/// expired licenses are successes too (read [`cv_license_status`]). On failure the code says why
/// and [`cv_last_error_message`] explains.
///
/// # Safety
/// `verifier` may be any pointer (it is checked before use) but must not be freed by
/// another thread during the call; `token` and `fingerprint` are NULL or NUL-terminated;
/// `guard_last_seen` is NULL or readable and writable; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verify(
    verifier: *const CvVerifier,
    token: *const c_char,
    fingerprint: *const c_char,
    unix_time: i64,
    guard_last_seen: *mut i64,
    out: *mut *mut CvLicense,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        unsafe {
            verify_at(
                verifier,
                token,
                fingerprint,
                Timestamp::from_unix(unix_time),
                guard_last_seen,
                out,
            )
        }
    })
}

/// [`cv_verify`] at the system clock's current time.
///
/// # Safety
/// As for [`cv_verify`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verify_now(
    verifier: *const CvVerifier,
    token: *const c_char,
    fingerprint: *const c_char,
    guard_last_seen: *mut i64,
    out: *mut *mut CvLicense,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        unsafe {
            verify_at(
                verifier,
                token,
                fingerprint,
                Timestamp::now(),
                guard_last_seen,
                out,
            )
        }
    })
}

/// The body of [`cv_verify`] and [`cv_verify_now`].
///
/// # Safety
/// As for [`cv_verify`].
unsafe fn verify_at(
    verifier: *const CvVerifier,
    token: *const c_char,
    fingerprint: *const c_char,
    now: Timestamp,
    guard_last_seen: *mut i64,
    out: *mut *mut CvLicense,
) -> Result<(), Failure> {
    let guard = if guard_last_seen.is_null() {
        None
    } else {
        Some(out_ptr(guard_last_seen, "guard_last_seen")?)
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        verify_with(
            verifier,
            token,
            fingerprint,
            out,
            |v, token, device| match guard {
                None => v.verify(token, device, now),
                Some(p) => {
                    // SAFETY: checked non-null and aligned; the caller promises it is readable.
                    let mut tg = TimeGuard::new(Timestamp::from_unix(p.read()));
                    let result = v.verify_guarded(token, device, now, &mut tg);
                    // SAFETY: as above, and writable.
                    p.write(tg.last_seen().unix());
                    result
                }
            },
        )
    }
}

/// Reads the verifier, token and device, runs `check`, and hands out the license it verified.
///
/// # Safety
/// As for [`cv_verify`].
unsafe fn verify_with(
    verifier: *const CvVerifier,
    token: *const c_char,
    fingerprint: *const c_char,
    out: *mut *mut CvLicense,
    check: impl FnOnce(&Verifier, &str, Option<&Fingerprint>) -> Result<VerifiedLicense, VerifyError>,
) -> Result<(), Failure> {
    let out = out_ptr(out, "out")?;
    // SAFETY: forwarded from the caller.
    let v = unsafe { handle(verifier) }?;
    // SAFETY: forwarded from the caller.
    let token = unsafe { read_str(token, "token") }?;
    let device = if fingerprint.is_null() {
        Fingerprint::collect().ok()
    } else {
        // SAFETY: forwarded from the caller.
        let raw = unsafe { read_str(fingerprint, "fingerprint") }?;
        let fp = Fingerprint::parse(raw).map_err(|e| {
            Failure::new(CvResult::BadFingerprint, std::format!("fingerprint: {e}"))
        })?;
        Some(fp)
    };
    let verifier = v.inner.read().unwrap_or_else(PoisonError::into_inner);
    let result = check(&verifier, token, device.as_ref());
    let license = into_handle(license_handle(&result?)?);
    // SAFETY: checked non-null and aligned; the caller promises it is writable.
    unsafe { out.write(license) };
    Ok(())
}

/// The verifier's persisted state, as the application saves it between runs: the latest time
/// seen (clock-rollback guard) and the newest revocation list loaded. Start from `{0, 0}`, or
/// from [`cv_state_decode`] of what was saved; save [`cv_state_encode`]'s text after each call
/// that takes it, whatever the result. The text is the one the Rust API writes
/// (`TimeGuard::encode`), so both can share a file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CvState {
    /// The latest Unix time seen.
    pub last_seen: i64,
    /// The sequence number of the newest revocation list loaded.
    pub revocation_seq: u64,
}

impl CvState {
    fn guard(self) -> TimeGuard {
        TimeGuard::new(Timestamp::from_unix(self.last_seen))
            .with_revocation_seq(self.revocation_seq)
    }

    fn from_guard(g: &TimeGuard) -> Self {
        CvState {
            last_seen: g.last_seen().unix(),
            revocation_seq: g.revocation_seq(),
        }
    }
}

/// Reads saved state text (`tg1.…` or `tg2.…`) into `*out`. Unreadable text fails with
/// `CV_RESULT_INVALID_ARGUMENT` and leaves `*out` as it was.
///
/// # Safety
/// `text` is NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_state_decode(text: *const c_char, out: *mut CvState) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: forwarded from the caller.
        let text = unsafe { read_str(text, "text") }?;
        let guard = TimeGuard::decode(text).ok_or_else(|| {
            Failure::new(
                CvResult::InvalidArgument,
                "text: not a saved verifier state (expected tg1.… or tg2.…)",
            )
        })?;
        // A CvState cannot hold what the key hierarchy added: reading it would drop those
        // floors, and saving it back would erase them.
        if guard.root_version() != 0 || guard.key_revocation_seq() != 0 {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                "text: a state with a root version or key revocations, which a CvState cannot hold: read it with cv_guard_new",
            ));
        }
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(CvState::from_guard(&guard)) };
        Ok(())
    })
}

/// The text to save for `*state`, into `*out` (free it with [`cv_string_free`]).
///
/// # Safety
/// `state` is NULL or readable; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_state_encode(state: *const CvState, out: *mut *mut c_char) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        let state = out_ptr(state.cast_mut(), "state")?;
        // SAFETY: checked non-null and aligned; the caller promises it is readable.
        let text = unsafe { state.read() }.guard().encode();
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { give_string(text, out, CvResult::Internal) }
    })
}

/// [`cv_verify`] with the whole persisted state: a time behind `state->last_seen` by more than a
/// day fails with `CV_RESULT_CLOCK_ROLLBACK`, and a verifier holding an older revocation list
/// than `state->revocation_seq` (an old list put back, or none loaded) fails with
/// `CV_RESULT_STALE_REVOCATION_LIST`. On success the state moves forward; save it.
///
/// # Safety
/// As for [`cv_verify`]; `state` is NULL or readable and writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verify_with_state(
    verifier: *const CvVerifier,
    token: *const c_char,
    fingerprint: *const c_char,
    unix_time: i64,
    state: *mut CvState,
    out: *mut *mut CvLicense,
) -> CvResult {
    entry(|| {
        let state = out_ptr(state, "state")?;
        // SAFETY: checked non-null and aligned; the caller promises it is readable.
        let mut guard = unsafe { state.read() }.guard();
        // SAFETY: forwarded from the caller.
        let result = unsafe {
            verify_with(verifier, token, fingerprint, out, |v, token, device| {
                v.verify_guarded(token, device, Timestamp::from_unix(unix_time), &mut guard)
            })
        };
        // SAFETY: as above, and writable.
        unsafe { state.write(CvState::from_guard(&guard)) };
        result
    })
}

/// [`cv_verifier_load_revocations`] that also refuses a list older than the newest one
/// `state` has seen (`CV_RESULT_STALE_REVOCATION_LIST`), and records the one loaded in it.
///
/// # Safety
/// As for [`cv_verifier_load_revocations`]; `state` is NULL or readable and writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_load_revocations_with_state(
    verifier: *const CvVerifier,
    list: *const c_char,
    state: *mut CvState,
) -> CvResult {
    entry(|| {
        let state = out_ptr(state, "state")?;
        // SAFETY: forwarded from the caller.
        let v = unsafe { handle(verifier) }?;
        // SAFETY: forwarded from the caller.
        let list = unsafe { read_str(list, "list") }?;
        // SAFETY: checked non-null and aligned; the caller promises it is readable.
        let mut guard = unsafe { state.read() }.guard();
        v.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .load_revocations_guarded(list, &mut guard)?;
        // SAFETY: as above, and writable.
        unsafe { state.write(CvState::from_guard(&guard)) };
        Ok(())
    })
}

/// The verifier's whole persisted state, opaque: the clock-rollback guard, the newest revocation
/// list loaded and, under a root, the root version accepted and the root's newest key
/// revocations loaded. Made by [`cv_guard_new`] (fresh, or from the saved text of any version,
/// `tg1.…` to `tg3.…`), saved as [`cv_guard_encode`]'s text after every call that takes it,
/// whatever the result, released by [`cv_guard_free`]. Deleting the stored root or statement
/// then makes the verifier refuse to answer (`CV_RESULT_UNCERTIFIED`) rather than fall back to
/// what they replaced. Opaque, unlike [`CvState`], so that what later versions add to the state
/// (floating licenses' borrowed leases) never changes a layout an application compiled in.
#[derive(Debug)]
pub struct CvGuard {
    inner: Mutex<TimeGuard>,
}

/// Runs `body` on the guard behind `guard`, which it may move forward.
///
/// # Safety
/// `guard` is NULL or a handle from [`cv_guard_new`].
unsafe fn with_guard(
    guard: *mut CvGuard,
    body: impl FnOnce(&mut TimeGuard) -> Result<(), Failure>,
) -> Result<(), Failure> {
    // SAFETY: forwarded from the caller.
    let g = unsafe { handle(guard.cast_const()) }?;
    let mut inner = g.inner.lock().unwrap_or_else(PoisonError::into_inner);
    body(&mut inner)
}

/// A new state into `*out`: from `text`, the saved text of any version (`tg1.…`, `tg2.…`,
/// `tg3.…`, as [`cv_guard_encode`] and [`cv_state_encode`] write it), or a fresh one when
/// `text` is NULL or empty. Unreadable text fails with `CV_RESULT_INVALID_ARGUMENT`. Free it
/// with [`cv_guard_free`].
///
/// # Safety
/// `text` is NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_guard_new(text: *const c_char, out: *mut *mut CvGuard) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        let guard = if text.is_null() {
            TimeGuard::default()
        } else {
            // SAFETY: forwarded from the caller.
            let text = unsafe { read_str(text, "text") }?;
            if text.trim().is_empty() {
                TimeGuard::default()
            } else {
                TimeGuard::decode(text.trim()).ok_or_else(|| {
                    Failure::new(
                        CvResult::InvalidArgument,
                        "text: not a saved verifier state (expected tg1.…, tg2.… or tg3.…)",
                    )
                })?
            }
        };
        let g = into_handle(CvGuard {
            inner: Mutex::new(guard),
        });
        // SAFETY: `out` was checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(g) };
        Ok(())
    })
}

/// The text to save for `guard`, into `*out` (free it with [`cv_string_free`]).
///
/// # Safety
/// `guard` is NULL or a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_guard_encode(guard: *const CvGuard, out: *mut *mut c_char) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: forwarded from the caller.
        let g = unsafe { handle(guard) }?;
        let text = g
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .encode();
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { give_string(text, out, CvResult::Internal) }
    })
}

/// What `guard` holds, each out-parameter NULL or written: the latest Unix time seen, the
/// newest revocation list loaded, the newest root statement of revoked keys loaded, the newest
/// root version accepted. For display and tests; the text is what to save.
///
/// # Safety
/// `guard` is NULL or a live handle; each out-parameter is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_guard_read(
    guard: *const CvGuard,
    last_seen: *mut i64,
    revocation_seq: *mut u64,
    key_revocation_seq: *mut u64,
    root_version: *mut u32,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        let g = unsafe { handle(guard) }?;
        let g = *g.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let misaligned = [
            (last_seen.is_aligned(), "last_seen"),
            (revocation_seq.is_aligned(), "revocation_seq"),
            (key_revocation_seq.is_aligned(), "key_revocation_seq"),
            (root_version.is_aligned(), "root_version"),
        ]
        .into_iter()
        .find(|(aligned, _)| !aligned);
        if let Some((_, what)) = misaligned {
            return Err(Failure::new(
                CvResult::InvalidArgument,
                std::format!("{what} is not aligned"),
            ));
        }
        // SAFETY: each checked aligned above; the caller promises NULL or writable.
        unsafe {
            if !last_seen.is_null() {
                last_seen.write(g.last_seen().unix());
            }
            if !revocation_seq.is_null() {
                revocation_seq.write(g.revocation_seq());
            }
            if !key_revocation_seq.is_null() {
                key_revocation_seq.write(g.key_revocation_seq());
            }
            if !root_version.is_null() {
                root_version.write(g.root_version());
            }
        }
        Ok(())
    })
}

/// Frees a state. NULL, an already freed handle and a pointer not made here are ignored.
///
/// # Safety
/// No other thread is using the state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_guard_free(guard: *mut CvGuard) {
    let _ = catch_unwind(|| {
        // SAFETY: forwarded from the caller.
        unsafe { free_handle(guard) }
    });
}

/// [`cv_verify_with_state`] with the whole state: also refuses to answer under a root older
/// than the one the state accepted, or without the key revocations it says were loaded
/// (`CV_RESULT_UNCERTIFIED`). On success the state moves forward; save it.
///
/// # Safety
/// As for [`cv_verify`]; `guard` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verify_guarded(
    verifier: *const CvVerifier,
    token: *const c_char,
    fingerprint: *const c_char,
    unix_time: i64,
    guard: *mut CvGuard,
    out: *mut *mut CvLicense,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        unsafe {
            with_guard(guard, |g| {
                verify_with(verifier, token, fingerprint, out, |v, token, device| {
                    v.verify_guarded(token, device, Timestamp::from_unix(unix_time), g)
                })
            })
        }
    })
}

/// [`cv_verifier_load_revocations_with_state`] with the whole state.
///
/// # Safety
/// As for [`cv_verifier_load_revocations`]; `guard` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_load_revocations_guarded(
    verifier: *const CvVerifier,
    list: *const c_char,
    guard: *mut CvGuard,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        let v = unsafe { handle(verifier) }?;
        // SAFETY: forwarded from the caller.
        let list = unsafe { read_str(list, "list") }?;
        // SAFETY: forwarded from the caller.
        unsafe {
            with_guard(guard, |g| {
                v.inner
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .load_revocations_guarded(list, g)?;
                Ok(())
            })
        }
    })
}

/// Loads the root's statement of revoked issuing keys (the `keys` field of licd's `GET
/// /v1/revocations`, or the statement the application stored) into a verifier made with
/// [`cv_verifier_new_rooted`]: tokens and revocation lists those keys signed are refused from
/// then on. Load it **before** the revocation list it came with. Refused
/// (`CV_RESULT_UNCERTIFIED`) unless the root's threshold signed it, and when it is older than
/// one `guard` has seen; records it in `guard`. Store the statement beside the state.
///
/// # Safety
/// `verifier` and `guard` are NULL or live handles; `statement_json` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_load_key_revocations(
    verifier: *const CvVerifier,
    statement_json: *const c_char,
    guard: *mut CvGuard,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        let v = unsafe { handle(verifier) }?;
        // SAFETY: forwarded from the caller.
        let json = unsafe { read_str(statement_json, "statement_json") }?;
        // SAFETY: forwarded from the caller.
        unsafe {
            with_guard(guard, |g| {
                v.inner
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .load_key_revocations_guarded(json, g)?;
                Ok(())
            })
        }
    })
}

/// Moves a rooted verifier's root forward along `documents`: the body of licd's `GET /v1/root`
/// (`{"version":…,"roots":[…]}`) or a JSON array of root documents, oldest first. Each newer
/// version must be signed by the threshold of the one before and of its own keys; one that is
/// not fails with `CV_RESULT_UNCERTIFIED` and changes nothing. Records the version reached in
/// `guard`. When the root changed, `*new_root` receives its document (free it with
/// [`cv_string_free`]): store it, and make the verifier from it next time; otherwise `*new_root`
/// is set to NULL.
///
/// # Safety
/// `verifier` and `guard` are NULL or live handles; `documents` is NULL or NUL-terminated;
/// `new_root` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_verifier_update_root(
    verifier: *const CvVerifier,
    documents: *const c_char,
    guard: *mut CvGuard,
    new_root: *mut *mut c_char,
) -> CvResult {
    entry(|| {
        let new_root = out_ptr(new_root, "new_root")?;
        // SAFETY: forwarded from the caller.
        let v = unsafe { handle(verifier) }?;
        // SAFETY: forwarded from the caller.
        let text = unsafe { read_str(documents, "documents") }?;
        let docs = root_documents(text)?;
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { new_root.write(core::ptr::null_mut()) };
        // SAFETY: forwarded from the caller.
        unsafe {
            with_guard(guard, |g| {
                let mut verifier = v.inner.write().unwrap_or_else(PoisonError::into_inner);
                match verifier.update_root(docs.iter().map(std::string::String::as_str), g)? {
                    // SAFETY: as above.
                    Some(root) => give_string(root.to_json().into(), new_root, CvResult::Internal),
                    None => Ok(()),
                }
            })
        }
    })
}

/// The root documents in `text`: `GET /v1/root`'s body or a JSON array of documents.
fn root_documents(text: &str) -> Result<Vec<std::string::String>, Failure> {
    let bad = |what: &str| {
        Failure::new(
            CvResult::InvalidArgument,
            std::format!(
                "documents: {what} (expected GET /v1/root's body or a JSON array of root documents)"
            ),
        )
    };
    let parsed: serde_json::Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let list = match &parsed {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("roots") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err(bad("no \"roots\" array")),
        },
        _ => return Err(bad("neither an object nor an array")),
    };
    list.iter()
        .map(|d| {
            d.as_str()
                .map(std::string::String::from)
                .ok_or_else(|| bad("a root document that is not a string"))
        })
        .collect()
}

fn license_handle(l: &VerifiedLicense) -> Result<CvLicense, Failure> {
    let c = l.claims();
    let status = match l.status() {
        LicenseStatus::Active { .. } => CvStatus::Active,
        LicenseStatus::Frozen { .. } => CvStatus::Frozen,
        LicenseStatus::Expired { .. } => CvStatus::Expired,
        LicenseStatus::CheckInRequired { .. } => CvStatus::CheckInRequired,
        LicenseStatus::LeaseRequired { .. } => CvStatus::LeaseRequired,
    };
    // A signed id with a NUL in it cannot be handed to C without being cut short.
    let id = CString::new(c.jti.as_str()).map_err(|_| {
        Failure::new(
            CvResult::Malformed,
            "malformed token: license id contains a NUL character",
        )
    })?;
    // serde_json escapes control characters, so the JSON has no NUL.
    let json = serde_json::to_string(&c.entitlements).unwrap_or_else(|_| "{}".to_string());
    let entitlements = CString::new(json)
        .map_err(|_| Failure::new(CvResult::Internal, "entitlements JSON contains a NUL byte"))?;
    let edition = CString::new(c.edition.clone().unwrap_or_default()).map_err(|_| {
        Failure::new(
            CvResult::Malformed,
            "malformed token: edition contains a NUL character",
        )
    })?;
    let origin = CString::new(c.origin.clone().unwrap_or_default()).map_err(|_| {
        Failure::new(
            CvResult::Malformed,
            "malformed token: origin contains a NUL character",
        )
    })?;
    Ok(CvLicense {
        status,
        expires_at: c.exp.unix(),
        freeze_until: c.freeze_until.unix(),
        revision: c.revision,
        quantity: c.quantity,
        id,
        entitlements,
        check_in_by: c.check_in_by.map_or(0, Timestamp::unix),
        edition,
        origin,
        entitlement_map: c.entitlements.clone(),
    })
}

/// Frees a license; strings read from it are invalid afterwards. NULL, an already freed handle
/// and a pointer not made here are ignored.
///
/// # Safety
/// No other thread is using the license.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_free(license: *mut CvLicense) {
    let _ = catch_unwind(|| {
        // SAFETY: forwarded from the caller.
        unsafe { free_handle(license) }
    });
}

/// Reads one field of a license into `out`.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
unsafe fn read_field<T>(
    license: *const CvLicense,
    out: *mut T,
    field: impl FnOnce(&CvLicense) -> T,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: forwarded from the caller.
        let l = unsafe { handle(license) }?;
        let value = field(l);
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(value) };
        Ok(())
    })
}

/// The license's status: active, frozen or expired at the time it was verified.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_status(
    license: *const CvLicense,
    out: *mut CvStatus,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.status) }
}

/// End of the paid period (`exp`), Unix seconds.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_expires_at(
    license: *const CvLicense,
    out: *mut i64,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.expires_at) }
}

/// End of the freeze window (`freeze_until`), Unix seconds: a frozen license can be renewed until
/// then; after it the license is expired.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_freeze_until(
    license: *const CvLicense,
    out: *mut i64,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.freeze_until) }
}

/// The license revision: 1 at issue, +1 on every renewal, reissue, freeze or unfreeze.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_revision(license: *const CvLicense, out: *mut u32) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.revision) }
}

/// The purchased quantity (seats, activations).
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_quantity(license: *const CvLicense, out: *mut u32) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.quantity) }
}

/// The license id (`jti`, the marketplace instance id). The string belongs to the license and is
/// valid until [`cv_license_free`].
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_id(
    license: *const CvLicense,
    out: *mut *const c_char,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.id.as_ptr()) }
}

/// The entitlements (feature flags and limits) as a JSON object, such as
/// `{"edition":"pro","max_projects":20}`. The string belongs to the license and is valid until
/// [`cv_license_free`].
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_entitlements_json(
    license: *const CvLicense,
    out: *mut *const c_char,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.entitlements.as_ptr()) }
}

/// The check-in deadline (seconds since 1970, UTC): the machine must refresh its license by
/// then, or the status turns [`CvStatus::CheckInRequired`]. 0 when the product requires no
/// check-in.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_check_in_by(
    license: *const CvLicense,
    out: *mut i64,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.check_in_by) }
}

/// The edition the license is for (e.g. "CAD Pro"); an empty string when the issuer names
/// none. The string belongs to the license and is valid until [`cv_license_free`].
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_edition(
    license: *const CvLicense,
    out: *mut *const c_char,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.edition.as_ptr()) }
}

/// How the license was sold when the marketplace did not sell it: `"direct"` (the ISV issued
/// it) or `"trial"` (an evaluation the ISV issued: show the user it is one); an empty string for
/// a marketplace license. The string belongs to the license and is valid until
/// [`cv_license_free`].
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_origin(
    license: *const CvLicense,
    out: *mut *const c_char,
) -> CvResult {
    // SAFETY: forwarded from the caller.
    unsafe { read_field(license, out, |l| l.origin.as_ptr()) }
}

/// Whether the feature flag `name` is on (the entitlement is the boolean `true`): `*out` is 1
/// or 0. A missing or non-boolean entitlement is off.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `name` is NULL or a NUL-terminated
/// string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_feature(
    license: *const CvLicense,
    name: *const c_char,
    out: *mut u8,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        let name = unsafe { read_str(name, "name") }?;
        let out = out_ptr(out, "out")?;
        // SAFETY: forwarded from the caller.
        let l = unsafe { handle(license) }?;
        let on = l.entitlement_map.get(name) == Some(&serde_json::Value::Bool(true));
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(u8::from(on)) };
        Ok(())
    })
}

/// The numeric limit `name` (an integer entitlement): `*present` is 1 and `*out` the value, or
/// `*present` is 0 (and `*out` untouched) when there is no such integer.
///
/// # Safety
/// `license` may be any pointer (it is checked before use); `name` is NULL or a NUL-terminated
/// string; `out` and `present` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_license_limit(
    license: *const CvLicense,
    name: *const c_char,
    out: *mut i64,
    present: *mut u8,
) -> CvResult {
    entry(|| {
        // SAFETY: forwarded from the caller.
        let name = unsafe { read_str(name, "name") }?;
        let out = out_ptr(out, "out")?;
        let present = out_ptr(present, "present")?;
        // SAFETY: forwarded from the caller.
        let l = unsafe { handle(license) }?;
        match l
            .entitlement_map
            .get(name)
            .and_then(serde_json::Value::as_i64)
        {
            Some(v) => {
                // SAFETY: both checked non-null and aligned; the caller promises they are
                // writable.
                unsafe {
                    out.write(v);
                    present.write(1);
                }
            }
            // SAFETY: as above.
            None => unsafe { present.write(0) },
        }
        Ok(())
    })
}

/// This machine's fingerprint in the marketplace's form (`MAC|disk|board|CPU`): what a customer
/// sends to support or enters when activating. On success `*out` is a string to free with
/// [`cv_string_free`].
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_machine_fingerprint(out: *mut *mut c_char) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        let fp = Fingerprint::collect().map_err(|e| {
            Failure::new(
                CvResult::FingerprintUnavailable,
                std::format!("cannot read this machine's fingerprint: {e}"),
            )
        })?;
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { give_string(fp.to_string(), out, CvResult::FingerprintUnavailable) }
    })
}

/// Hands `text` to C as a string to free with [`cv_string_free`]; a NUL inside fails with
/// `code`.
///
/// # Safety
/// `out` is non-null, aligned and writable (checked by [`out_ptr`]).
unsafe fn give_string(text: String, out: *mut *mut c_char, code: CvResult) -> Result<(), Failure> {
    let s = CString::new(text)
        .map_err(|_| Failure::new(code, "the string would contain a NUL byte"))?
        .into_raw();
    live().insert(key(s, Kind::String));
    // SAFETY: the caller's promise.
    unsafe { out.write(s) };
    Ok(())
}

/// An activation request (`lor1.…`, at most 700 characters) for an air-gapped machine: the
/// unbound license `token` bound to this machine (or to `fingerprint`, when not NULL), signed
/// with the device key kept in the directory `state_dir` (made on first use, owner-only). Show it
/// to the user as text or a QR code; licd's `/activate` page, `POST /v1/offline/activate` or
/// support's `licctl offline activate` turn it into the device-bound token to install. Asking
/// again gives the same seat. On success `*out` is a string to free with [`cv_string_free`].
///
/// Fails with `CV_RESULT_NOT_A_LICENSE` for a token that is not an unbound licd license,
/// `CV_RESULT_BAD_FINGERPRINT` for a fingerprint without a disk or mainboard serial, and
/// `CV_RESULT_OFFLINE_STATE` when the state directory cannot be read or written.
///
/// # Safety
/// `token` and `state_dir` are NULL or NUL-terminated strings; `fingerprint` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_offline_request(
    token: *const c_char,
    fingerprint: *const c_char,
    state_dir: *const c_char,
    out: *mut *mut c_char,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's promise, forwarded.
        let token = unsafe { read_str(token, "token") }?;
        // SAFETY: as above.
        let dir = unsafe { read_str(state_dir, "state_dir") }?;
        let fp = if fingerprint.is_null() {
            Fingerprint::collect().map_err(|e| {
                Failure::new(
                    CvResult::FingerprintUnavailable,
                    std::format!("cannot read this machine's fingerprint: {e}"),
                )
            })?
        } else {
            // SAFETY: as above.
            let raw = unsafe { read_str(fingerprint, "fingerprint") }?;
            Fingerprint::parse(raw)
                .map_err(|e| Failure::new(CvResult::BadFingerprint, e.to_string()))?
        };
        if !fp.identifies_machine() {
            return Err(Failure::new(
                CvResult::BadFingerprint,
                "the fingerprint has neither a disk nor a mainboard serial, so nothing can be bound to it",
            ));
        }
        let request = crate::offline::state::OfflineState::open(dir)
            .and_then(|s| s.request(token, &fp))
            .map_err(offline_failure)?;
        // SAFETY: checked by `out_ptr`; the caller promises it is writable.
        unsafe { give_string(request, out, CvResult::Internal) }
    })
}

/// A deactivation receipt (`ldr1.…`) giving back this machine's seat, signed with the device
/// key in `state_dir`. Delete the license token first; the receipt can be made once, so keep it
/// until licd has accepted it. On success `*out` is a string to free with [`cv_string_free`].
/// Fails with `CV_RESULT_OFFLINE_STATE` when there is no activation to give back.
///
/// # Safety
/// `state_dir` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_offline_receipt(
    state_dir: *const c_char,
    out: *mut *mut c_char,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's promise, forwarded.
        let dir = unsafe { read_str(state_dir, "state_dir") }?;
        let receipt = crate::offline::state::OfflineState::open(dir)
            .and_then(|s| s.receipt())
            .map_err(offline_failure)?;
        // SAFETY: checked by `out_ptr`; the caller promises it is writable.
        unsafe { give_string(receipt, out, CvResult::Internal) }
    })
}

fn offline_failure(e: crate::offline::OfflineError) -> Failure {
    use crate::offline::OfflineError;
    let code = match &e {
        OfflineError::License(_) => CvResult::NotALicense,
        OfflineError::State(_) => CvResult::OfflineState,
        OfflineError::Malformed(_) | OfflineError::BadSignature => CvResult::Internal,
    };
    Failure::new(code, e.to_string())
}

/// Frees a string this library allocated ([`cv_machine_fingerprint`]). NULL, an already freed
/// string and a pointer not made here are ignored.
///
/// # Safety
/// No other thread is using the string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_string_free(s: *mut c_char) {
    let _ = catch_unwind(|| {
        if s.is_null() || !live().remove(&key(s, Kind::String)) {
            return;
        }
        // SAFETY: registered when made by `CString::into_raw`, unregistered now: the only free.
        drop(unsafe { CString::from_raw(s) });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_in_an_entry_point_becomes_internal_error() {
        let code = entry(|| panic!("boom"));
        assert_eq!(code, CvResult::Internal);
        let msg = unsafe { CStr::from_ptr(cv_last_error_message()) };
        assert!(msg.to_str().unwrap().contains("panic"), "{msg:?}");
    }

    #[test]
    fn result_names_match_variants() {
        use CvResult::*;
        let all = [
            Ok,
            NullPointer,
            InvalidUtf8,
            InvalidArgument,
            BadKey,
            BadFingerprint,
            FingerprintUnavailable,
            Internal,
            OfflineState,
            NotALicense,
            Malformed,
            BadSignature,
            UnknownKey,
            WrongIssuer,
            WrongProduct,
            NotYetValid,
            DeviceMismatch,
            NotBound,
            Revoked,
            ClockRollback,
            StaleRevocationList,
            Uncertified,
        ];
        for code in all {
            let got = unsafe { CStr::from_ptr(cv_result_name(code as i32)) };
            assert_eq!(got.to_str().unwrap(), std::format!("{code:?}"));
        }
        let unknown = unsafe { CStr::from_ptr(cv_result_name(55)) };
        assert_eq!(unknown.to_str().unwrap(), "Unknown");
    }
}

// ---- floating licenses: the lease client (feature `lease-client`, header `CV_LEASE_CLIENT`) ----

/// Where a lease client stands ([`cv_lease_client_state`]).
#[cfg(feature = "lease-client")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CvLeaseState {
    /// A lease is held and the last renewal succeeded.
    Leased = 0,
    /// A lease is held, but renewing it failed; retrying until it ends.
    Renewing = 1,
    /// The lease ended; asking for a seat again in the background.
    Lost = 2,
    /// The license cannot lease any more (revoked, frozen): the client stopped.
    Refused = 3,
}

/// A floating license's lease, renewed on a thread of its own until
/// [`cv_lease_client_free`] gives the seat back. Made by [`cv_lease_client_acquire`].
#[cfg(feature = "lease-client")]
pub struct CvLeaseClient {
    inner: crate::lease_client::LeaseClient,
}

#[cfg(feature = "lease-client")]
impl std::fmt::Debug for CvLeaseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[cfg(feature = "lease-client")]
impl Handle for CvLeaseClient {
    const KIND: Kind = Kind::LeaseClient;
    const NAME: &'static str = "lease client";
}

#[cfg(feature = "lease-client")]
impl From<crate::lease_client::LeaseError> for Failure {
    fn from(e: crate::lease_client::LeaseError) -> Self {
        use crate::lease_client::LeaseError as E;
        let message = e.to_string();
        match e {
            E::Invalid(v) => Failure::from(v),
            E::SeatsTaken { .. } => Failure::new(CvResult::SeatsTaken, message),
            E::Refused { .. } => Failure::new(CvResult::LeaseRefused, message),
            E::Unreachable(_) => Failure::new(CvResult::ServerUnreachable, message),
            _ => Failure::new(CvResult::InvalidArgument, message),
        }
    }
}

/// Leases a seat of the floating license `license` (its token) from the license server at
/// `server` (`https://…`; plain `http://` only to a loopback address unless
/// `allow_plain_http` is nonzero) for this running program, `instance` (host and pid, a
/// container id), on this machine (or the machine `fingerprint` names, when not NULL). Blocks
/// for one request; then a thread of the library renews the lease at about half its length,
/// and retries through outages until it ends. Every lease is verified with `verifier` (copied:
/// later changes to it do not reach the client). `ca_pem`, when not NULL, is PEM text of the
/// only CA certificates trusted for HTTPS. On success `*out` is a handle to free with
/// [`cv_lease_client_free`], which gives the seat back.
///
/// Fails with `CV_RESULT_SEATS_TAKEN` when every seat is leased, `CV_RESULT_LEASE_REFUSED`
/// when the server refuses for good, `CV_RESULT_SERVER_UNREACHABLE` when it cannot be asked,
/// and a verification code when its lease does not verify here.
///
/// # Safety
/// `verifier` may be any pointer (it is checked); the strings are NULL or NUL-terminated;
/// `out` is NULL or writable.
#[cfg(feature = "lease-client")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_lease_client_acquire(
    verifier: *const CvVerifier,
    server: *const c_char,
    license: *const c_char,
    instance: *const c_char,
    fingerprint: *const c_char,
    ca_pem: *const c_char,
    allow_plain_http: i32,
    out: *mut *mut CvLeaseClient,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's promises, forwarded.
        let (v, server, license, instance) = unsafe {
            (
                handle(verifier)?,
                read_str(server, "server")?,
                read_str(license, "license")?,
                read_str(instance, "instance")?,
            )
        };
        let fp = if fingerprint.is_null() {
            Fingerprint::collect().map_err(|e| {
                Failure::new(
                    CvResult::FingerprintUnavailable,
                    std::format!("cannot read this machine's fingerprint: {e}"),
                )
            })?
        } else {
            // SAFETY: the caller's promise.
            let text = unsafe { read_str(fingerprint, "fingerprint")? };
            Fingerprint::parse(text)
                .map_err(|e| Failure::new(CvResult::BadFingerprint, e.to_string()))?
        };
        let mut config = crate::lease_client::LeaseConfig::new(server, license, instance, fp);
        config.allow_plain_http = allow_plain_http != 0;
        if !ca_pem.is_null() {
            // SAFETY: the caller's promise.
            config.ca_pem = Some(unsafe { read_str(ca_pem, "ca_pem")? }.as_bytes().to_vec());
        }
        let verifier = v
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let client = crate::lease_client::LeaseClient::acquire(config, verifier)?;
        let h = into_handle(CvLeaseClient { inner: client });
        // SAFETY: checked non-null and aligned; the caller promises it is writable.
        unsafe { out.write(h) };
        Ok(())
    })
}

/// Whether the program may use its licensed features now: a lease is held and, by the
/// monotonic clock from when it was received, has not ended. 0 for a NULL or bad handle.
///
/// # Safety
/// `client` may be any pointer (it is checked) but must not be freed during the call.
#[cfg(feature = "lease-client")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_lease_client_valid(client: *const CvLeaseClient) -> i32 {
    let mut valid = 0;
    let _ = entry(|| {
        // SAFETY: the caller's promise.
        valid = i32::from(unsafe { handle(client)? }.inner.is_valid());
        Ok(())
    });
    valid
}

/// The client's state, the seat held and how many seconds the lease held stays valid.
/// Any of the out-parameters may be NULL.
///
/// # Safety
/// `client` may be any pointer (it is checked); the out-parameters are NULL or writable.
#[cfg(feature = "lease-client")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_lease_client_state(
    client: *const CvLeaseClient,
    state: *mut CvLeaseState,
    seat: *mut u32,
    valid_for_secs: *mut u64,
) -> CvResult {
    entry(|| {
        // SAFETY: the caller's promise.
        let s = unsafe { handle(client)? }.inner.status();
        use crate::lease_client::LeaseState as L;
        let st = match s.state {
            L::Leased => CvLeaseState::Leased,
            L::Renewing => CvLeaseState::Renewing,
            L::Lost => CvLeaseState::Lost,
            L::Refused => CvLeaseState::Refused,
        };
        // SAFETY: each is NULL or writable, as the caller promises.
        unsafe {
            if !state.is_null() {
                out_ptr(state, "state")?.write(st);
            }
            if !seat.is_null() {
                out_ptr(seat, "seat")?.write(s.seat);
            }
            if !valid_for_secs.is_null() {
                out_ptr(valid_for_secs, "valid_for_secs")?.write(s.valid_for.as_secs());
            }
        }
        Ok(())
    })
}

/// The lease token held, as the server signed it (its entitlements:
/// [`cv_lease_client_entitlements_json`]). On success `*out` is a string to
/// free with [`cv_string_free`]; `CV_RESULT_LEASE_ENDED` when no lease is held.
///
/// # Safety
/// `client` may be any pointer (it is checked); `out` is NULL or writable.
#[cfg(feature = "lease-client")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_lease_client_token(
    client: *const CvLeaseClient,
    out: *mut *mut c_char,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's promise.
        let token = unsafe { handle(client)? }
            .inner
            .token()
            .ok_or_else(|| Failure::new(CvResult::LeaseEnded, "no lease is held"))?;
        // SAFETY: checked non-null and aligned.
        unsafe { give_string(token, out, CvResult::Malformed) }
    })
}

/// The entitlements of the lease held, as a JSON object (feature flags and limits). On success
/// `*out` is a string to free with [`cv_string_free`]; `CV_RESULT_LEASE_ENDED` when no valid
/// lease is held.
///
/// # Safety
/// `client` may be any pointer (it is checked); `out` is NULL or writable.
#[cfg(feature = "lease-client")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_lease_client_entitlements_json(
    client: *const CvLeaseClient,
    out: *mut *mut c_char,
) -> CvResult {
    entry(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's promise.
        let lease = unsafe { handle(client)? }
            .inner
            .verified()
            .ok_or_else(|| Failure::new(CvResult::LeaseEnded, "no valid lease is held"))?;
        let json = serde_json::to_string(&lease.claims().entitlements).unwrap_or_default();
        // SAFETY: checked non-null and aligned.
        unsafe { give_string(json, out, CvResult::Malformed) }
    })
}

/// Stops renewing and gives the seat back (one request, bounded by the client's timeout), then
/// frees the client. NULL, foreign and already freed pointers are ignored.
///
/// # Safety
/// No other thread is using the handle.
#[cfg(feature = "lease-client")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cv_lease_client_free(client: *mut CvLeaseClient) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: forwarded from the caller.
        unsafe { free_handle(client) }
    }));
}
