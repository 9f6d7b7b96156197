//! The device fingerprint parser, the binding a token carries, and tolerant matching.
//!
//! The input is split at its first newline into a bound fingerprint and a device fingerprint.
//!
//! Invariants:
//! - parse → display → parse gives the same fingerprint (what `licctl fingerprint` prints is
//!   what the daemon binds to);
//! - a binding's token form decodes to the same binding, and `Binding::decode` accepts only the
//!   exact form `encode` writes;
//! - a device matches its own binding under every policy exactly when its fingerprint
//!   identifies a machine (opaque, or with a disk or mainboard serial): MAC and CPU id alone
//!   never hold a binding;
//! - a match result is consistent: never more matched than bound, and matching is symmetric in
//!   the sense that equal fingerprints give equal results;
//! - one binding, one machine: when a second newline splits off a second device, and the
//!   binding holds on both devices, the two share a bound mainboard value or a bound disk
//!   serial (which distinct machines never do), whatever values the binding was made from.
#![no_main]

use client_verifier::{Binding, Fingerprint, MatchPolicy};
use libfuzzer_sys::fuzz_target;

const SALT: [u8; 8] = *b"fuzzsalt";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(b) = Binding::decode(text) {
        assert_eq!(
            b.encode(),
            text,
            "Binding::decode accepted a non-canonical form"
        );
    }
    let (bound_raw, device_raw) = text.split_once('\n').unwrap_or((text, text));
    let (device_raw, other_raw) = device_raw.split_once('\n').unwrap_or((device_raw, ""));
    let Ok(bound) = parse_round_trip(bound_raw) else {
        return;
    };
    let binding = Binding::new(&bound, SALT);
    let encoded = binding.encode();
    assert_eq!(
        Binding::decode(&encoded).as_ref(),
        Some(&binding),
        "{encoded}"
    );
    for policy in [
        MatchPolicy::Tolerant,
        MatchPolicy::All,
        MatchPolicy::AtLeast(3),
    ] {
        let own = binding.check(&bound, policy);
        assert_eq!(
            own.holds(),
            bound.identifies_machine(),
            "a device and its own binding: {own:?}"
        );
        assert_eq!(own.matched, own.bound);
    }
    if let Ok(device) = parse_round_trip(device_raw) {
        let r = binding.check(&device, MatchPolicy::Tolerant);
        assert!(
            r.matched <= r.bound && r.required <= r.bound.max(1),
            "{r:?}"
        );
        if device == bound {
            assert_eq!(r.holds(), bound.identifies_machine());
        }
        if bound.is_opaque() || device.is_opaque() {
            assert_eq!(r.holds(), device == bound, "opaque values match exactly");
        }
        if let Ok(other) = Fingerprint::parse(other_raw) {
            if r.holds() && binding.check(&other, MatchPolicy::AtLeast(1)).holds() {
                assert!(
                    share_an_anchor(&bound, &device, &other),
                    "one binding held on two machines that share no bound serial"
                );
            }
        }
    }
});

/// Whether devices `a` and `b` share a disk or mainboard value that `bound` lists.
fn share_an_anchor(bound: &Fingerprint, a: &Fingerprint, b: &Fingerprint) -> bool {
    let (Some(bound), Some(a), Some(b)) = (bound.parts(), a.parts(), b.parts()) else {
        return true; // opaque: matched exactly, so the same value
    };
    [1, 2]
        .iter()
        .any(|&i| bound[i].iter().any(|v| a[i].contains(v) && b[i].contains(v)))
}

fn parse_round_trip(raw: &str) -> Result<Fingerprint, ()> {
    let Ok(fp) = Fingerprint::parse(raw) else {
        return Err(());
    };
    let shown = fp.to_string();
    // Messages name lengths and a prefix only: inputs run to kilobytes.
    let again = Fingerprint::parse(&shown).unwrap_or_else(|e| {
        panic!(
            "a {}-byte fingerprint displays as {} bytes that do not parse: {e}",
            raw.len(),
            shown.len()
        )
    });
    assert!(
        again == fp,
        "parse → display → parse changed {:?}…",
        raw.chars().take(40).collect::<String>()
    );
    Ok(fp)
}
