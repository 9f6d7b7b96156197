//! Certificates for tests of TLS as the marketplace's client checks it.

use std::path::{Path, PathBuf};

use client_verifier::Timestamp;

/// The (year, month, day) of `t`, as rcgen takes dates.
pub fn ymd(t: Timestamp) -> (i32, u8, u8) {
    let s = t.to_rfc3339();
    (
        s[0..4].parse().unwrap(),
        s[5..7].parse().unwrap(),
        s[8..10].parse().unwrap(),
    )
}

/// A self-signed certificate for `localhost` valid between the two dates, written to
/// `dir/cert.pem` and `dir/key.pem` (0600); returns both paths.
pub fn certificate(
    dir: &Path,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = p.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    super::write_secret(&k, key.serialize_pem().as_bytes());
    (c, k)
}
