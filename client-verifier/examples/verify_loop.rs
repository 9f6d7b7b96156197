//! Times `Verifier::verify` in a loop, as the language bindings' benchmark does in Python, Node
//! and Java (scripts/bench-bindings.sh): the golden case `active_on_bound_device`, its device
//! parsed once (as a Rust application would), `N` calls (default 20000) after 1000 to warm up.
//! Prints the microseconds per call.

use std::time::Instant;

use client_verifier::{Fingerprint, PublicKey, Timestamp, Verifier};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map_or(20_000, |s| s.parse().expect("N is a number"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/license-v1.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("JSON");
    let case = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == "active_on_bound_device")
        .expect("the case");
    let key = PublicKey::from_paserk(doc["keys"]["current"]["public"].as_str().expect("key"))
        .expect("PASERK");
    let verifier = Verifier::builder()
        .trust(key)
        .issuer(case["verifier"]["issuer"].as_str().expect("issuer"))
        .product(case["verifier"]["product"].as_str().expect("product"))
        .build();
    let token = case["token"].as_str().expect("token");
    let device = Fingerprint::parse(case["device"].as_str().expect("device")).expect("device");
    let now = Timestamp::parse_rfc3339(case["now"].as_str().expect("now")).expect("now");
    let run = |calls: u32| {
        for _ in 0..calls {
            let l = verifier.verify(std::hint::black_box(token), Some(&device), now);
            assert!(l.expect("verifies").is_active());
        }
    };
    run(1000);
    let start = Instant::now();
    run(n);
    let per_call = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("rust {per_call:.2}");
}
