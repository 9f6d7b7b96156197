//! The C ABI seen the way C sees it: raw pointers in, codes and out-parameters back. Every golden
//! case gets its verdict through `cv_verify`, and every argument error has a test that would
//! catch it turning into a crash, a wrong code or a write through a bad pointer.

// Calling the C ABI from Rust is `unsafe` by nature; this test does nothing else.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use client_verifier::ffi::*;
use serde_json::Value;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/license-v1.json");
const ISSUER: &str = "acme-isv";
const PRODUCT: &str = "OFFI454488918838374";

fn doc() -> Value {
    serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap()
}

fn case(doc: &Value, name: &str) -> Value {
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no golden case {name}"))
        .clone()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn unix(rfc3339: &str) -> i64 {
    client_verifier::Timestamp::parse_rfc3339(rfc3339)
        .unwrap()
        .unix()
}

fn last_error() -> Option<String> {
    let p = cv_last_error_message();
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
}

fn name_of(code: CvResult) -> String {
    unsafe { CStr::from_ptr(cv_result_name(code as i32)) }
        .to_str()
        .unwrap()
        .to_owned()
}

/// A verifier trusting the named keys of the vector file, with `flags`.
fn verifier(doc: &Value, keys: &[&str], flags: u32, min_seq: u64) -> *mut CvVerifier {
    let keys: Vec<CString> = keys
        .iter()
        .map(|k| c(doc["keys"][k]["public"].as_str().unwrap()))
        .collect();
    let ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
    let (iss, prod) = (c(ISSUER), c(PRODUCT));
    let mut v = ptr::null_mut();
    let code = unsafe {
        cv_verifier_new(
            ptrs.as_ptr(),
            ptrs.len(),
            iss.as_ptr(),
            prod.as_ptr(),
            flags,
            min_seq,
            &mut v,
        )
    };
    assert_eq!(code, CvResult::Ok, "{:?}", last_error());
    assert!(!v.is_null());
    v
}

fn default_verifier() -> *mut CvVerifier {
    verifier(&doc(), &["current", "old"], 0, 0)
}

/// Verifies a golden case's token with its device at its time; the license on success.
fn verify_case(v: *const CvVerifier, case: &Value) -> Result<*mut CvLicense, CvResult> {
    let token = c(case["token"].as_str().unwrap());
    let device = case["device"].as_str().map(c);
    let mut guard = case["guard_last_seen"].as_str().map_or(0, unix);
    let mut out = ptr::null_mut();
    let code = unsafe {
        cv_verify(
            v,
            token.as_ptr(),
            device.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
            unix(case["now"].as_str().unwrap()),
            &mut guard,
            &mut out,
        )
    };
    if code == CvResult::Ok {
        assert!(!out.is_null());
        Ok(out)
    } else {
        assert!(out.is_null(), "out written on failure");
        Err(code)
    }
}

fn active_license() -> (*mut CvVerifier, *mut CvLicense) {
    let v = default_verifier();
    let l = verify_case(v, &case(&doc(), "active_on_bound_device")).unwrap();
    (v, l)
}

fn free(v: *mut CvVerifier, l: *mut CvLicense) {
    unsafe {
        cv_license_free(l);
        cv_verifier_free(v);
    }
}

#[test]
fn abi_version_matches_header_constant() {
    assert_eq!(cv_abi_version(), CV_ABI_VERSION);
    assert_eq!(CV_ABI_VERSION, 1);
}

#[test]
fn every_golden_case_gets_its_verdict_through_the_c_abi() {
    let doc = doc();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let opts = &case["verifier"];
        let keys: Vec<&str> = opts["trust"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let mut flags = 0;
        if opts["binding"] == "optional" {
            flags |= CV_FLAG_BINDING_OPTIONAL;
        }
        if opts["policy"] == "all" {
            flags |= CV_FLAG_MATCH_ALL;
        }
        let v = verifier(
            &doc,
            &keys,
            flags,
            opts["min_revocation_seq"].as_u64().unwrap_or(0),
        );
        let got = match case["revocations"].as_str() {
            Some(list) => {
                let list = c(list);
                match unsafe { cv_verifier_load_revocations(v, list.as_ptr(), ptr::null_mut()) } {
                    CvResult::Ok => verify_case(v, case),
                    code => Err(code),
                }
            }
            None => verify_case(v, case),
        };
        let got = match got {
            Ok(l) => {
                let (mut status, mut exp, mut until, mut by) = (CvStatus::Expired, 0, 0, 0);
                unsafe {
                    assert_eq!(cv_license_status(l, &mut status), CvResult::Ok);
                    assert_eq!(cv_license_expires_at(l, &mut exp), CvResult::Ok);
                    assert_eq!(cv_license_freeze_until(l, &mut until), CvResult::Ok);
                    assert_eq!(cv_license_check_in_by(l, &mut by), CvResult::Ok);
                    cv_license_free(l);
                }
                let (name, at) = match status {
                    CvStatus::Active => ("active", exp),
                    CvStatus::Frozen => ("frozen", until),
                    CvStatus::Expired => ("expired", until),
                    CvStatus::CheckInRequired => ("check_in_required", by),
                    CvStatus::LeaseRequired => ("lease_required", exp),
                };
                serde_json::json!({ "status": name, "at": client_verifier::Timestamp::from_unix(at).to_rfc3339() })
            }
            Err(code) => {
                let msg = last_error();
                assert!(msg.is_some(), "{}: no message for {code:?}", case["name"]);
                serde_json::json!({ "error": name_of(code) })
            }
        };
        unsafe { cv_verifier_free(v) };
        if got != case["expect"] {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case["name"], case["expect"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn license_fields_read_back_what_the_token_says() {
    let (v, l) = active_license();
    let (mut rev, mut qty, mut id, mut ent) = (0, 0, ptr::null(), ptr::null());
    unsafe {
        assert_eq!(cv_license_revision(l, &mut rev), CvResult::Ok);
        assert_eq!(cv_license_quantity(l, &mut qty), CvResult::Ok);
        assert_eq!(cv_license_id(l, &mut id), CvResult::Ok);
        assert_eq!(cv_license_entitlements_json(l, &mut ent), CvResult::Ok);
        assert_eq!(CStr::from_ptr(id).to_str().unwrap(), "lic-0001");
        let ent: Value = serde_json::from_str(CStr::from_ptr(ent).to_str().unwrap()).unwrap();
        assert_eq!(
            ent,
            serde_json::json!({"edition": "pro", "max_projects": 20})
        );
    }
    assert_eq!((rev, qty), (1, 1));
    assert_eq!(last_error(), None);
    free(v, l);
}

#[cfg(feature = "sign")]
#[test]
fn typed_accessors_read_features_limits_edition_and_check_in() {
    let doc = doc();
    let secret = doc["keys"]["current"]["secret"].as_str().unwrap();
    let key = client_verifier::SecretKey::from_paserk(secret).unwrap();
    let t = |s: &str| client_verifier::Timestamp::parse_rfc3339(s).unwrap();
    let mut claims = client_verifier::Claims::new(
        ISSUER,
        "cust",
        "lic-typed",
        PRODUCT,
        "sku",
        "order",
        t("2026-01-01T00:00:00Z"),
        t("2099-01-01T00:00:00Z"),
        t("2099-01-16T00:00:00Z"),
    );
    claims.entitlements.insert("export_dxf".into(), true.into());
    claims.entitlements.insert("max_layers".into(), 200.into());
    claims.edition = Some("CAD Pro".into());
    claims.check_in_by = Some(t("2026-07-01T00:00:00Z"));
    claims.origin = Some("trial".into());
    let token = c(&client_verifier::mint(&key, &claims).unwrap());
    let v = verifier(&doc, &["current"], CV_FLAG_BINDING_OPTIONAL, 0);
    for (at, expected) in [
        ("2026-06-01T00:00:00Z", CvStatus::Active),
        ("2026-07-02T00:00:00Z", CvStatus::CheckInRequired),
    ] {
        let mut guard = 0i64;
        let mut l = ptr::null_mut();
        let rc = unsafe { cv_verify(v, token.as_ptr(), ptr::null(), unix(at), &mut guard, &mut l) };
        assert_eq!(rc, CvResult::Ok, "{:?}", last_error());
        let (mut status, mut by, mut edition) = (CvStatus::Expired, 0i64, ptr::null());
        let (mut on, mut limit, mut present) = (9u8, 0i64, 9u8);
        unsafe {
            assert_eq!(cv_license_status(l, &mut status), CvResult::Ok);
            assert_eq!(cv_license_check_in_by(l, &mut by), CvResult::Ok);
            assert_eq!(cv_license_edition(l, &mut edition), CvResult::Ok);
            assert_eq!(CStr::from_ptr(edition).to_str().unwrap(), "CAD Pro");
            let mut origin = ptr::null();
            assert_eq!(cv_license_origin(l, &mut origin), CvResult::Ok);
            assert_eq!(CStr::from_ptr(origin).to_str().unwrap(), "trial");
            let name = c("export_dxf");
            assert_eq!(cv_license_feature(l, name.as_ptr(), &mut on), CvResult::Ok);
            assert_eq!(on, 1);
            let name = c("max_layers");
            assert_eq!(cv_license_feature(l, name.as_ptr(), &mut on), CvResult::Ok);
            assert_eq!(on, 0, "an integer is no feature flag");
            assert_eq!(
                cv_license_limit(l, name.as_ptr(), &mut limit, &mut present),
                CvResult::Ok
            );
            assert_eq!((limit, present), (200, 1));
            let name = c("absent");
            limit = -1;
            assert_eq!(
                cv_license_limit(l, name.as_ptr(), &mut limit, &mut present),
                CvResult::Ok
            );
            assert_eq!((limit, present), (-1, 0), "untouched when absent");
            assert_eq!(
                cv_license_feature(l, ptr::null(), &mut on),
                CvResult::NullPointer
            );
            assert_eq!(
                cv_license_limit(l, name.as_ptr(), &mut limit, ptr::null_mut()),
                CvResult::NullPointer
            );
        }
        assert_eq!(status, expected, "at {at}");
        assert_eq!(by, unix("2026-07-01T00:00:00Z"));
        unsafe { cv_license_free(l) };
    }
    // Without the claims: no deadline, an empty edition and origin.
    let (v2, l) = active_license();
    let (mut by, mut edition) = (-1i64, ptr::null());
    unsafe {
        assert_eq!(cv_license_check_in_by(l, &mut by), CvResult::Ok);
        assert_eq!(cv_license_edition(l, &mut edition), CvResult::Ok);
        assert_eq!(CStr::from_ptr(edition).to_str().unwrap(), "");
        assert_eq!(cv_license_origin(l, &mut edition), CvResult::Ok);
        assert_eq!(
            CStr::from_ptr(edition).to_str().unwrap(),
            "",
            "a marketplace license"
        );
    }
    assert_eq!(by, 0);
    free(v2, l);
    unsafe { cv_verifier_free(v) };
}

#[test]
fn license_accessors_refuse_null_license_and_null_out() {
    let (v, l) = active_license();
    let mut n = 7u32;
    let mut t = 7i64;
    let mut s = ptr::null();
    let mut st = CvStatus::Active;
    unsafe {
        assert_eq!(
            cv_license_revision(ptr::null(), &mut n),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_quantity(ptr::null(), &mut n),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_expires_at(ptr::null(), &mut t),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_freeze_until(ptr::null(), &mut t),
            CvResult::NullPointer
        );
        assert_eq!(cv_license_id(ptr::null(), &mut s), CvResult::NullPointer);
        assert_eq!(
            cv_license_entitlements_json(ptr::null(), &mut s),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_status(ptr::null(), &mut st),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_revision(l, ptr::null_mut()),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_quantity(l, ptr::null_mut()),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_expires_at(l, ptr::null_mut()),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_license_freeze_until(l, ptr::null_mut()),
            CvResult::NullPointer
        );
        assert_eq!(cv_license_id(l, ptr::null_mut()), CvResult::NullPointer);
        assert_eq!(
            cv_license_entitlements_json(l, ptr::null_mut()),
            CvResult::NullPointer
        );
        assert_eq!(cv_license_status(l, ptr::null_mut()), CvResult::NullPointer);
    }
    assert_eq!((n, t, s, st), (7, 7, ptr::null(), CvStatus::Active));
    assert_eq!(last_error().unwrap(), "out is NULL");
    free(v, l);
}

#[test]
fn verifier_new_refuses_each_bad_argument_and_writes_nothing() {
    let doc = doc();
    let good = c(doc["keys"]["current"]["public"].as_str().unwrap());
    let bad_key = c("k4.public.AAAA");
    let secret = c(doc["keys"]["current"]["secret"].as_str().unwrap());
    let not_utf8 = CString::new(vec![b'k', 0xff, b'4']).unwrap();
    let (iss, prod) = (c(ISSUER), c(PRODUCT));
    let keys = [good.as_ptr()];
    let sentinel = 0x10 as *mut CvVerifier;
    let try_new = |keys: *const *const c_char,
                   n: usize,
                   iss: *const c_char,
                   prod: *const c_char,
                   flags: u32|
     -> CvResult {
        let mut out = sentinel;
        let code = unsafe { cv_verifier_new(keys, n, iss, prod, flags, 0, &mut out) };
        assert_eq!(out, sentinel, "out written on failure");
        code
    };
    let k = keys.as_ptr();
    assert_eq!(
        try_new(ptr::null(), 1, iss.as_ptr(), prod.as_ptr(), 0),
        CvResult::NullPointer
    );
    assert_eq!(
        try_new(k, 0, iss.as_ptr(), prod.as_ptr(), 0),
        CvResult::InvalidArgument
    );
    assert_eq!(
        try_new(k, CV_MAX_KEYS + 1, iss.as_ptr(), prod.as_ptr(), 0),
        CvResult::InvalidArgument
    );
    assert_eq!(
        try_new(k, 1, ptr::null(), prod.as_ptr(), 0),
        CvResult::NullPointer
    );
    assert_eq!(last_error().unwrap(), "issuer is NULL");
    assert_eq!(
        try_new(k, 1, iss.as_ptr(), ptr::null(), 0),
        CvResult::NullPointer
    );
    assert_eq!(
        try_new(k, 1, iss.as_ptr(), not_utf8.as_ptr(), 0),
        CvResult::InvalidUtf8
    );
    assert_eq!(
        try_new(k, 1, iss.as_ptr(), prod.as_ptr(), 4),
        CvResult::InvalidArgument
    );
    assert!(last_error().unwrap().contains("unknown flags"));
    for (entry, code) in [
        (ptr::null(), CvResult::NullPointer),
        (not_utf8.as_ptr(), CvResult::InvalidUtf8),
        (bad_key.as_ptr(), CvResult::BadKey),
        (secret.as_ptr(), CvResult::BadKey),
    ] {
        let keys = [good.as_ptr(), entry];
        assert_eq!(
            try_new(keys.as_ptr(), 2, iss.as_ptr(), prod.as_ptr(), 0),
            code
        );
        assert!(
            last_error().unwrap().starts_with("public_keys[1]"),
            "{:?}",
            last_error()
        );
    }
    let mut out = ptr::null_mut();
    let code = unsafe { cv_verifier_new(k, 1, iss.as_ptr(), prod.as_ptr(), 0, 0, ptr::null_mut()) };
    assert_eq!(code, CvResult::NullPointer);
    // The same key twice is legal (trusted once).
    let twice = [good.as_ptr(), good.as_ptr()];
    let code = unsafe {
        cv_verifier_new(
            twice.as_ptr(),
            2,
            iss.as_ptr(),
            prod.as_ptr(),
            0,
            0,
            &mut out,
        )
    };
    assert_eq!(code, CvResult::Ok);
    unsafe { cv_verifier_free(out) };
}

#[test]
fn strings_longer_than_the_limit_are_refused_not_read_on() {
    let v = default_verifier();
    let long = c(&"a".repeat(CV_MAX_STRING_LEN + 1));
    let at_limit = c(&"a".repeat(CV_MAX_STRING_LEN));
    let mut out = ptr::null_mut();
    unsafe {
        let code = cv_verify(v, long.as_ptr(), ptr::null(), 0, ptr::null_mut(), &mut out);
        assert_eq!(code, CvResult::InvalidArgument);
        assert!(last_error().unwrap().contains("longer than"));
        // At the limit the string is read and judged as a token.
        let code = cv_verify(
            v,
            at_limit.as_ptr(),
            ptr::null(),
            0,
            ptr::null_mut(),
            &mut out,
        );
        assert_eq!(code, CvResult::Malformed);
        cv_verifier_free(v);
    }
    assert!(out.is_null());
}

#[test]
fn verify_refuses_each_bad_argument() {
    let doc = doc();
    let case = case(&doc, "active_on_bound_device");
    let v = default_verifier();
    let token = c(case["token"].as_str().unwrap());
    let device = c(case["device"].as_str().unwrap());
    let not_utf8 = CString::new(vec![b'v', 0xc3, b'4']).unwrap();
    let (empty, blank_parts) = (c(""), c("|||"));
    let now = unix(case["now"].as_str().unwrap());
    let run = |v: *const CvVerifier, t: *const c_char, d: *const c_char, with_out: bool| {
        let mut out: *mut CvLicense = ptr::null_mut();
        let out_p = if with_out {
            &mut out as *mut _
        } else {
            ptr::null_mut()
        };
        let code = unsafe { cv_verify(v, t, d, now, ptr::null_mut(), out_p) };
        assert!(out.is_null());
        code
    };
    assert_eq!(
        run(ptr::null(), token.as_ptr(), device.as_ptr(), true),
        CvResult::NullPointer
    );
    assert_eq!(last_error().unwrap(), "verifier is NULL");
    assert_eq!(
        run(v, ptr::null(), device.as_ptr(), true),
        CvResult::NullPointer
    );
    assert_eq!(
        run(v, token.as_ptr(), device.as_ptr(), false),
        CvResult::NullPointer
    );
    assert_eq!(
        run(v, not_utf8.as_ptr(), device.as_ptr(), true),
        CvResult::InvalidUtf8
    );
    assert!(last_error().unwrap().contains("offset 1"));
    assert_eq!(
        run(v, token.as_ptr(), not_utf8.as_ptr(), true),
        CvResult::InvalidUtf8
    );
    assert_eq!(
        run(v, token.as_ptr(), empty.as_ptr(), true),
        CvResult::BadFingerprint
    );
    assert_eq!(
        run(v, token.as_ptr(), blank_parts.as_ptr(), true),
        CvResult::BadFingerprint
    );
    assert_eq!(
        run(v, empty.as_ptr(), device.as_ptr(), true),
        CvResult::Malformed
    );
    // A license handle where a verifier belongs, a pointer into the middle of a handle and a
    // freed handle are all refused without being read.
    let l = verify_case(v, &case).unwrap();
    assert_eq!(
        run(l.cast(), token.as_ptr(), device.as_ptr(), true),
        CvResult::InvalidArgument
    );
    assert!(last_error().unwrap().contains("not a live verifier handle"));
    let inside = (v as usize + 1) as *const CvVerifier;
    assert_eq!(
        run(inside, token.as_ptr(), device.as_ptr(), true),
        CvResult::InvalidArgument
    );
    let gone = default_verifier();
    unsafe { cv_verifier_free(gone) };
    assert_eq!(
        run(gone, token.as_ptr(), device.as_ptr(), true),
        CvResult::InvalidArgument
    );
    // A misaligned out-parameter is refused before anything is written through it.
    let mut buf = [0i64; 2];
    let misaligned = (buf.as_mut_ptr() as usize + 1) as *mut i64;
    let mut out = ptr::null_mut();
    let code = unsafe {
        cv_verify(
            v,
            token.as_ptr(),
            device.as_ptr(),
            now,
            misaligned,
            &mut out,
        )
    };
    assert_eq!(code, CvResult::InvalidArgument);
    assert_eq!(buf, [0, 0]);
    free(v, l);
}

#[test]
fn verifying_twice_and_sharing_a_verifier_are_legal() {
    let doc = doc();
    let case = case(&doc, "active_on_bound_device");
    let v = default_verifier();
    let a = verify_case(v, &case).unwrap();
    let b = verify_case(v, &case).unwrap();
    assert_ne!(a, b, "each verification has its own license");
    free(ptr::null_mut(), a);
    // Threads verify concurrently with one verifier, one of them reloading revocations.
    let list = c(case_list(&doc));
    let shared = v as usize;
    std::thread::scope(|s| {
        for i in 0..4 {
            let case = &case;
            let list = &list;
            s.spawn(move || {
                let v = shared as *mut CvVerifier;
                for _ in 0..10 {
                    if i == 0 {
                        let code = unsafe {
                            cv_verifier_load_revocations(v, list.as_ptr(), ptr::null_mut())
                        };
                        assert_eq!(code, CvResult::Ok);
                    } else {
                        let l = verify_case(v, case).unwrap();
                        unsafe { cv_license_free(l) };
                    }
                }
            });
        }
    });
    free(v, b);
    // Freeing NULL is always fine.
    unsafe {
        cv_verifier_free(ptr::null_mut());
        cv_license_free(ptr::null_mut());
        cv_string_free(ptr::null_mut());
    }
}

#[test]
fn freed_foreign_and_wrong_kind_pointers_are_refused_and_never_freed_twice() {
    let (v, l) = active_license();
    let mut rev = 0u32;
    unsafe {
        // A verifier is not a license, and freeing it as one does nothing.
        assert_eq!(
            cv_license_revision(v.cast(), &mut rev),
            CvResult::InvalidArgument
        );
        cv_license_free(v.cast());
        cv_string_free(v.cast());
        cv_license_free(l);
        assert_eq!(cv_license_revision(l, &mut rev), CvResult::InvalidArgument);
        cv_license_free(l); // a second free is ignored
        // A pointer the library never made: Rust's own allocation.
        let foreign = CString::new("not ours").unwrap().into_raw();
        cv_string_free(foreign);
        drop(CString::from_raw(foreign)); // still ours: a double free here would crash
        // The verifier survived the wrong-kind frees.
        let token = c(case(&doc(), "active_on_bound_device")["token"]
            .as_str()
            .unwrap());
        let mut out = ptr::null_mut();
        let code = cv_verify(v, token.as_ptr(), ptr::null(), 0, ptr::null_mut(), &mut out);
        assert_ne!(code, CvResult::InvalidArgument, "{:?}", last_error());
        cv_license_free(out);
        cv_verifier_free(v);
        cv_verifier_free(v);
    }
    assert_eq!(rev, 0);
}

/// The revocation list that does not name the golden license.
fn case_list(doc: &Value) -> &str {
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "revocation_list_without_this_license")
        .unwrap()["revocations"]
        .as_str()
        .unwrap()
}

#[test]
fn revocation_lists_load_once_reload_and_refuse_older_or_bad_ones() {
    let doc = doc();
    let revoked = case(&doc, "rejects_revoked_license");
    let list = c(revoked["revocations"].as_str().unwrap());
    let v = default_verifier();
    let mut seq = 0u64;
    unsafe {
        assert_eq!(
            cv_verifier_load_revocations(v, list.as_ptr(), &mut seq),
            CvResult::Ok
        );
        assert!(seq > 0);
        // The same list again is accepted.
        let mut again = 0u64;
        assert_eq!(
            cv_verifier_load_revocations(v, list.as_ptr(), &mut again),
            CvResult::Ok
        );
        assert_eq!(again, seq);
    }
    assert_eq!(verify_case(v, &revoked), Err(CvResult::Revoked));
    unsafe {
        let mut untouched = 99u64;
        assert_eq!(
            cv_verifier_load_revocations(ptr::null(), list.as_ptr(), &mut untouched),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_verifier_load_revocations(v, ptr::null(), &mut untouched),
            CvResult::NullPointer
        );
        let junk = c("not a token");
        assert_eq!(
            cv_verifier_load_revocations(v, junk.as_ptr(), &mut untouched),
            CvResult::Malformed
        );
        // A license is not a revocation list.
        let token = c(revoked["token"].as_str().unwrap());
        assert_eq!(
            cv_verifier_load_revocations(v, token.as_ptr(), &mut untouched),
            CvResult::Malformed
        );
        assert_eq!(untouched, 99);
        cv_verifier_free(v);
    }
    // An application that persisted a higher sequence number refuses this list.
    let v = verifier(&doc, &["current"], 0, seq + 1);
    unsafe {
        assert_eq!(
            cv_verifier_load_revocations(v, list.as_ptr(), ptr::null_mut()),
            CvResult::StaleRevocationList
        );
        cv_verifier_free(v);
    }
}

#[test]
fn time_guard_moves_forward_on_success_and_stops_a_rolled_back_clock() {
    let doc = doc();
    let case = case(&doc, "active_on_bound_device");
    let v = default_verifier();
    let token = c(case["token"].as_str().unwrap());
    let device = c(case["device"].as_str().unwrap());
    let now = unix(case["now"].as_str().unwrap());
    let mut guard = 0i64;
    let mut out = ptr::null_mut();
    unsafe {
        assert_eq!(
            cv_verify(
                v,
                token.as_ptr(),
                device.as_ptr(),
                now,
                &mut guard,
                &mut out
            ),
            CvResult::Ok
        );
        assert_eq!(guard, now);
        cv_license_free(out);
        out = ptr::null_mut();
        let back = now - 2 * client_verifier::DAY;
        assert_eq!(
            cv_verify(
                v,
                token.as_ptr(),
                device.as_ptr(),
                back,
                &mut guard,
                &mut out
            ),
            CvResult::ClockRollback
        );
        assert_eq!(guard, now, "a refused time does not move the guard");
        assert!(out.is_null());
        cv_verifier_free(v);
    }
}

#[test]
fn last_error_is_per_thread_and_cleared_by_success() {
    let v = default_verifier();
    assert_eq!(last_error(), None);
    let mut out = ptr::null_mut();
    let code = unsafe { cv_verify(v, ptr::null(), ptr::null(), 0, ptr::null_mut(), &mut out) };
    assert_eq!(code, CvResult::NullPointer);
    assert_eq!(last_error().unwrap(), "token is NULL");
    // Reading it twice is fine, and another thread has its own (empty) message.
    assert_eq!(last_error().unwrap(), "token is NULL");
    std::thread::spawn(|| assert_eq!(last_error(), None))
        .join()
        .unwrap();
    let (v2, l) = active_license();
    assert_eq!(last_error(), None);
    free(v2, l);
    unsafe { cv_verifier_free(v) };
}

#[test]
fn machine_fingerprint_is_a_freeable_string_or_a_clear_error() {
    let mut s = ptr::null_mut();
    match unsafe { cv_machine_fingerprint(&mut s) } {
        CvResult::Ok => {
            let text = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_owned();
            assert_eq!(text.matches('|').count(), 3, "{text}");
            unsafe { cv_string_free(s) };
        }
        CvResult::FingerprintUnavailable => assert!(last_error().is_some()),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        unsafe { cv_machine_fingerprint(ptr::null_mut()) },
        CvResult::NullPointer
    );
}

#[test]
fn verify_now_reads_the_clock() {
    // An unbound license and an optional binding, so the machine's own fingerprint cannot matter.
    let doc = doc();
    let case = case(&doc, "unbound_accepted_when_binding_optional");
    let v = verifier(&doc, &["current", "old"], CV_FLAG_BINDING_OPTIONAL, 0);
    let token = c(case["token"].as_str().unwrap());
    let mut guard = 0i64;
    let mut out = ptr::null_mut();
    let before = client_verifier::Timestamp::now().unix();
    let code = unsafe { cv_verify_now(v, token.as_ptr(), ptr::null(), &mut guard, &mut out) };
    assert_eq!(code, CvResult::Ok, "{:?}", last_error());
    assert!(
        guard >= before,
        "guard {guard} not moved to the clock's time {before}"
    );
    let mut status = CvStatus::Active;
    assert_eq!(unsafe { cv_license_status(out, &mut status) }, CvResult::Ok);
    free(v, out);
    assert_eq!(
        unsafe {
            cv_verify_now(
                ptr::null(),
                token.as_ptr(),
                ptr::null(),
                ptr::null_mut(),
                &mut out,
            )
        },
        CvResult::NullPointer
    );
}

/// Hardening round 3, through the C ABI as shipped applications call it: a verifier made with
/// the persisted `revocation_seq` but no list loaded (the file deleted) used to answer `Ok`.
#[test]
fn a_verifier_made_with_the_saved_seq_but_no_list_refuses_to_answer() {
    let doc = doc();
    let revoked = case(&doc, "rejects_revoked_license");
    let list = c(revoked["revocations"].as_str().unwrap());
    unsafe {
        let v = default_verifier();
        let mut seq = 0;
        assert_eq!(
            cv_verifier_load_revocations(v, list.as_ptr(), &mut seq),
            CvResult::Ok
        );
        cv_verifier_free(v);
        // Next start: made with the saved seq, the list file gone.
        let v = verifier(&doc, &["current", "old"], 0, seq);
        assert_eq!(
            verify_case(v, &revoked).map(|_| ()),
            Err(CvResult::StaleRevocationList)
        );
        let mut state = CvState {
            last_seen: 0,
            revocation_seq: seq,
        };
        let token = c(revoked["token"].as_str().unwrap());
        let device = revoked["device"].as_str().map(c);
        let mut out = ptr::null_mut();
        assert_eq!(
            cv_verify_with_state(
                v,
                token.as_ptr(),
                device.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
                unix(revoked["now"].as_str().unwrap()),
                &mut state,
                &mut out
            ),
            CvResult::StaleRevocationList
        );
        // With the list loaded again, the license is revoked.
        assert_eq!(
            cv_verifier_load_revocations(v, list.as_ptr(), ptr::null_mut()),
            CvResult::Ok
        );
        assert_eq!(verify_case(v, &revoked).map(|_| ()), Err(CvResult::Revoked));
        cv_verifier_free(v);
    }
}

#[test]
fn persisted_state_refuses_an_older_revocation_list_and_a_missing_one() {
    let doc = doc();
    let revoked = case(&doc, "rejects_revoked_license");
    let newer = c(revoked["revocations"].as_str().unwrap());
    let token = c(revoked["token"].as_str().unwrap());
    let device = c(revoked["device"].as_str().unwrap_or(""));
    let now = unix(revoked["now"].as_str().unwrap());
    let mut state = CvState::default();
    unsafe {
        // First run: load the list, save the state.
        let v = default_verifier();
        assert_eq!(
            cv_verifier_load_revocations_with_state(v, newer.as_ptr(), &mut state),
            CvResult::Ok
        );
        assert!(state.revocation_seq > 0);
        cv_verifier_free(v);
        let mut text: *mut c_char = ptr::null_mut();
        assert_eq!(cv_state_encode(&state, &mut text), CvResult::Ok);
        let saved = CStr::from_ptr(text).to_str().unwrap().to_string();
        cv_string_free(text);
        assert!(saved.starts_with("tg2."), "{saved}");
        // Next run: the list file is gone (or an older one is in its place). The saved state
        // remembers that a newer list existed, so the revoked license does not verify.
        let mut restored = CvState::default();
        assert_eq!(
            cv_state_decode(c(&saved).as_ptr(), &mut restored),
            CvResult::Ok
        );
        assert_eq!(restored, state);
        let v = default_verifier();
        let mut out = ptr::null_mut();
        let dev = if device.as_bytes().is_empty() {
            ptr::null()
        } else {
            device.as_ptr()
        };
        assert_eq!(
            cv_verify_with_state(v, token.as_ptr(), dev, now, &mut restored, &mut out),
            CvResult::StaleRevocationList
        );
        assert!(out.is_null());
        // An older list is refused against the state (the golden list with seq 0 stands in).
        let mut older = CvState {
            revocation_seq: restored.revocation_seq + 1,
            ..restored
        };
        assert_eq!(
            cv_verifier_load_revocations_with_state(v, newer.as_ptr(), &mut older),
            CvResult::StaleRevocationList
        );
        // With the current list loaded, the license is revoked as it should be.
        assert_eq!(
            cv_verifier_load_revocations_with_state(v, newer.as_ptr(), &mut restored),
            CvResult::Ok
        );
        assert_eq!(
            cv_verify_with_state(v, token.as_ptr(), dev, now, &mut restored, &mut out),
            CvResult::Revoked
        );
        assert_eq!(restored.last_seen, now, "the time seen is recorded");
        // Bad arguments.
        assert_eq!(
            cv_state_decode(c("tg9.1").as_ptr(), &mut restored),
            CvResult::InvalidArgument
        );
        assert_eq!(
            cv_state_decode(ptr::null(), &mut restored),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_state_encode(ptr::null(), &mut text),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_verify_with_state(v, token.as_ptr(), dev, now, ptr::null_mut(), &mut out),
            CvResult::NullPointer
        );
        cv_verifier_free(v);
    }
}

/// The whole-state handle (`cv_guard`): every argument error is a code, nothing is written on
/// failure, and it carries a key-verifier's state exactly as `CvState` does.
#[test]
fn guard_refuses_each_bad_argument_and_reads_every_earlier_state() {
    let c = |s: &str| CString::new(s).unwrap();
    unsafe {
        let sentinel = ptr::dangling_mut::<CvGuard>();
        let mut g = sentinel;
        assert_eq!(
            cv_guard_new(c("tg9.1").as_ptr(), &mut g),
            CvResult::InvalidArgument
        );
        assert_eq!(g, sentinel, "nothing written on failure");
        assert_eq!(
            cv_guard_new(ptr::null(), ptr::null_mut()),
            CvResult::NullPointer
        );
        // The text of a CvState reads into a guard with nothing lost.
        assert_eq!(
            cv_guard_new(c("tg2.1700000000.7").as_ptr(), &mut g),
            CvResult::Ok
        );
        let (mut seen, mut list) = (0i64, 0u64);
        assert_eq!(
            cv_guard_read(g, &mut seen, &mut list, ptr::null_mut(), ptr::null_mut()),
            CvResult::Ok
        );
        assert_eq!((seen, list), (1_700_000_000, 7));
        let mut text: *mut c_char = ptr::null_mut();
        assert_eq!(cv_guard_encode(g, &mut text), CvResult::Ok);
        assert_eq!(CStr::from_ptr(text).to_str().unwrap(), "tg2.1700000000.7");
        cv_string_free(text);
        assert_eq!(
            cv_guard_encode(ptr::null(), &mut text),
            CvResult::NullPointer
        );
        assert_eq!(
            cv_guard_read(
                ptr::null(),
                &mut seen,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut()
            ),
            CvResult::NullPointer
        );
        // (That guard has seen list 7: a verifier without it would answer StaleRevocationList.)
        cv_guard_free(g);
        assert_eq!(cv_guard_new(ptr::null(), &mut g), CvResult::Ok);
        // A key verifier with a guard: the golden verdicts, and a NULL guard refused.
        let doc = doc();
        let v = default_verifier();
        let case = case(&doc, "active_on_bound_device");
        let token = c(case["token"].as_str().unwrap());
        let dev = c(case["device"].as_str().unwrap());
        let now = unix(case["now"].as_str().unwrap());
        let mut out: *mut CvLicense = ptr::null_mut();
        assert_eq!(
            cv_verify_guarded(
                v,
                token.as_ptr(),
                dev.as_ptr(),
                now,
                ptr::null_mut(),
                &mut out
            ),
            CvResult::NullPointer
        );
        assert!(out.is_null());
        assert_eq!(
            cv_verify_guarded(v, token.as_ptr(), dev.as_ptr(), now, g, &mut out),
            CvResult::Ok
        );
        cv_license_free(out);
        // A clock set back by more than a day is caught through the guard, as through CvState.
        let mut out: *mut CvLicense = ptr::null_mut();
        assert_eq!(
            cv_verify_guarded(
                v,
                token.as_ptr(),
                dev.as_ptr(),
                now - 3 * 86_400,
                g,
                &mut out
            ),
            CvResult::ClockRollback
        );
        assert!(out.is_null());
        // A key verifier has no root to update and takes no key revocations.
        let mut root: *mut c_char = sentinel.cast();
        assert_eq!(
            cv_verifier_update_root(v, c("[]").as_ptr(), g, &mut root),
            CvResult::Uncertified
        );
        assert_eq!(
            cv_verifier_load_key_revocations(v, c("{}").as_ptr(), g),
            CvResult::Uncertified
        );
        // A license handle is not a guard.
        let l = active_license();
        assert_eq!(
            cv_guard_encode(l.1.cast(), &mut text),
            CvResult::InvalidArgument
        );
        free(l.0, l.1);
        cv_verifier_free(v);
        cv_guard_free(g);
        cv_guard_free(g);
    }
}
