//! Air-gapped activation requests (`lor1.…`) and deactivation receipts (`ldr1.…`): what licd
//! reads from anyone on its public listener and its self-service page.
//!
//! Invariants:
//! - reading never panics, whatever the text;
//! - what is read is within bounds: a license id of 1 to 128 bytes, a binding in its canonical
//!   token form;
//! - whatever binding a request carries, it never holds on two machines that share no disk or
//!   mainboard serial (one seat, one machine);
//! - a request or receipt made from the input (key seed, license id, salt) reads back to the
//!   same fields, proves possession of the token it was made with and of no other.
#![no_main]

use client_verifier::offline::{DeviceKey, MAX_LICENSE_ID_LEN, Receipt, Request};
use client_verifier::{Binding, Fingerprint, MatchPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Request::open(text) {
        assert!(!r.license().is_empty() && r.license().len() <= MAX_LICENSE_ID_LEN);
        let encoded = r.binding().encode();
        assert_eq!(Binding::decode(&encoded).as_ref(), Some(r.binding()));
        let holds = |raw: &str| {
            Fingerprint::parse(raw)
                .is_ok_and(|f| r.binding().check(&f, MatchPolicy::AtLeast(1)).holds())
        };
        assert!(
            !(holds("M|DISK-A|BOARD-A|C") && holds("M|DISK-B|BOARD-B|C")),
            "a request's binding held on two machines"
        );
    }
    if let Ok(r) = Receipt::open(text) {
        assert!(!r.license().is_empty() && r.license().len() <= MAX_LICENSE_ID_LEN);
    }

    // Made from the input, read back.
    if data.len() < 41 {
        return;
    }
    let (seed, rest) = data.split_at(32);
    let (salt, rest) = rest.split_at(8);
    let Ok(id) = std::str::from_utf8(rest) else {
        return;
    };
    let key = DeviceKey::from_seed(seed.try_into().unwrap());
    let salt: [u8; 8] = salt.try_into().unwrap();
    let Ok(fp) = Fingerprint::parse("AA|DISK|BOARD|CPU") else {
        return;
    };
    let binding = Binding::new(&fp, salt);
    match Request::create(id, "v4.public.token", binding.clone(), &key) {
        Ok(text) => {
            let r = Request::open(&text).expect("a request made here reads back");
            assert_eq!(r.license(), id);
            assert_eq!(r.binding(), &binding);
            assert_eq!(r.device(), &key.public());
            assert!(r.proves_possession_of("v4.public.token"));
            assert!(!r.proves_possession_of("v4.public.other"));
        }
        Err(_) => assert!(id.is_empty() || id.len() > MAX_LICENSE_ID_LEN),
    }
    if let Ok(text) = Receipt::create(id, salt, &key) {
        let r = Receipt::open(&text).expect("a receipt made here reads back");
        assert_eq!(r.license(), id);
        assert!(r.names(&binding));
    }
});
