//! The key hierarchy's two formats: a certificate (binary, as a token's footer carries it) and a
//! root document (`root.json`, as an application embeds it or `GET /v1/root` serves it).
//!
//! The input's first byte picks the parser (modulo 3: certificate, root, key revocations
//! under a fixed root); the rest is its input.
//!
//! Invariants:
//! - neither parser panics, whatever the bytes;
//! - a certificate read back from its own encoding is the same certificate, with the same
//!   bytes (one spelling per certificate: what the verifier caches by digest);
//! - a root document that reads reads again from the text it keeps, as the same root;
//! - a key revocation statement is read (its JSON, its signatures) without panicking; one the
//!   fixed root accepts reads again from its own text.
#![no_main]

use client_verifier::{Certificate, KeyRevocations, Root};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 3 == 2 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let root = Root::from_json(ROOT).expect("the fixed root reads");
        if let Ok(statement) = KeyRevocations::from_json(text, &root) {
            let again = KeyRevocations::from_json(statement.to_json(), &root).expect("reads again");
            assert_eq!(again, statement);
        }
    } else if pick % 3 == 0 {
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

/// A 1-of-1 root made by `licctl root init` (its secret thrown away).
const ROOT: &str = r#"{
  "type": "licd-root",
  "version": 1,
  "threshold": 1,
  "keys": [
    "k4.public.kBqHSBLyYV-FIur7tZcnGvyJQu9gcbKLacDOoj2SfdQ"
  ],
  "signatures": [
    "Oir69sDS14T8DLldmBF5MaN-oG8gKXNMvT_UsxAROfm1y2NeNz5xat5iK6HwLq-n-lGDI44SQHtky0TwpsgMCA"
  ]
}"#;
