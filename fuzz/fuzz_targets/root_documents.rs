//! The key hierarchy's two formats: a certificate (binary, as a token's footer carries it) and a
//! root document (`root.json`, as an application embeds it or `GET /v1/root` serves it).
//!
//! The input's first byte picks the parser; the rest is its input.
//!
//! Invariants:
//! - neither parser panics, whatever the bytes;
//! - a certificate read back from its own encoding is the same certificate, with the same
//!   bytes (one spelling per certificate: what the verifier caches by digest);
//! - a root document that reads reads again from the text it keeps, as the same root.
#![no_main]

use client_verifier::{Certificate, Root};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        if let Ok(cert) = Certificate::from_bytes(rest) {
            assert_eq!(cert.as_bytes(), rest);
            let again = Certificate::decode(&cert.encode()).expect("its own encoding reads");
            assert_eq!(again, cert);
        }
    } else if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(root) = Root::from_json(text) {
            let again = Root::from_json(root.to_json()).expect("its own document reads");
            assert_eq!(again, root);
            assert!(usize::from(root.threshold()) <= root.keys().len());
        }
    }
});
