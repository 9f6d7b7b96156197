//! Air-gapped activation requests (`lor1.…`) and deactivation receipts (`ldr1.…`), and a site
//! server's requests (`lsr1.…`) and receipts (`lsd1.…`): what licd reads from anyone on its
//! public listener and its self-service page.
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

use client_verifier::offline::site::{MAX_ALLOTMENT_ID_LEN, SiteReceipt, SiteRequest};
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
    if let Ok(r) = SiteRequest::open(text) {
        assert!(!r.license().is_empty() && r.license().len() <= MAX_LICENSE_ID_LEN);
        assert_eq!(Binding::decode(&r.binding().encode()).as_ref(), Some(r.binding()));
        assert!(Request::open(text).is_err(), "a site request is not a request");
    }
    if let Ok(r) = SiteReceipt::open(text) {
        assert!(!r.license().is_empty() && r.license().len() <= MAX_LICENSE_ID_LEN);
        assert!(!r.allotment().is_empty() && r.allotment().len() <= MAX_ALLOTMENT_ID_LEN);
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
    let seats = u32::from_be_bytes([salt[0], salt[1], salt[2], salt[3]]);
    if let Ok(text) = SiteRequest::create(id, "v4.public.token", binding.clone(), seats, &key) {
        let r = SiteRequest::open(&text).expect("a site request made here reads back");
        assert_eq!((r.license(), r.seats(), r.site()), (id, seats, &key.public()));
        assert!(r.proves_possession_of("v4.public.token"));
        assert!(!r.proves_possession_of("v4.public.other"));
    }
    let end = client_verifier::Timestamp::from_unix(i64::from(seats));
    if let Ok(text) = SiteReceipt::create(id, id, end, &key) {
        let r = SiteReceipt::open(&text).expect("a site receipt made here reads back");
        assert_eq!((r.license(), r.allotment(), r.leases_end()), (id, id, end));
    }
});
