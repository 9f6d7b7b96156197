//! Inputs the fuzz targets in `fuzz/` failed on, each kept as a named test (the input is also in
//! `fuzz/corpus/<target>/regression-*`, so the fuzz run replays it too).

use client_verifier::{Fingerprint, FingerprintError, fingerprint::MAX_LEN};

/// `fingerprint` target, parse → display → parse: 'ΐ' (U+0390, 2 bytes) upper-cases to three
/// code points, 6 bytes. A 5,119-byte fingerprint of them was accepted and printed as 15,351
/// bytes, which `parse` then refused as too long: what `licctl fingerprint` prints, or an
/// application stores, would not read back. The normalised form is now held to the limit too.
#[test]
fn fingerprint_that_grows_when_upper_cased_is_refused_rather_than_unprintable() {
    let grows = format!("{}|||", "\u{390}".repeat(2558));
    assert!(grows.len() <= MAX_LEN);
    assert_eq!(
        Fingerprint::parse(&grows),
        Err(FingerprintError::TooLong { len: 15_351 })
    );

    // Below the limit once normalised, the same characters are fine and read back.
    let fits = format!("{}|D1||C1", "\u{390}".repeat(800));
    let fp = Fingerprint::parse(&fits).unwrap();
    let shown = fp.to_string();
    assert!(shown.len() > fits.len() && shown.len() <= MAX_LEN);
    assert_eq!(Fingerprint::parse(&shown), Ok(fp));
}
