//! Writes a demo key and licenses, valid from now, for trying the C, C++ and C# examples and
//! for the release bundle's tests: tokens in the golden vectors are pinned to fixed dates, while
//! an example checks the license *now*.
//!
//! ```sh
//! cargo run -p client-verifier --features sign --example demo_license -- OUT_DIR
//! ```
//!
//! In OUT_DIR: `keys.txt` (the public key, PASERK), and tokens for issuer `licd` (licd's default `--issuer`), product
//! `OFFI454488918838374`: `active.token` (unbound, one year), `frozen.token` (ended yesterday,
//! frozen for 14 days), `expired.token` (frozen window over), `other-machine.token` (bound to a
//! machine that is not this one). The key is random: these licenses are good for nothing else.

use std::path::PathBuf;

use client_verifier::{Binding, Claims, DAY, Fingerprint, SecretKey, Timestamp, mint};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: demo_license OUT_DIR");
        std::process::exit(2);
    }));
    std::fs::create_dir_all(&out).expect("create OUT_DIR");
    let key = SecretKey::generate().expect("randomness");
    let now = Timestamp::now();
    let claims = |jti: &str, exp: Timestamp, freeze_days: i64| {
        let mut c = Claims::new(
            "licd",
            "cust-demo",
            jti,
            "OFFI454488918838374",
            "sku-pro",
            "order-demo",
            now.add_secs(-30 * DAY),
            exp,
            exp.add_secs(freeze_days * DAY),
        );
        c.edition = Some("CAD Pro".into());
        c.entitlements
            .insert("export_dxf".into(), serde_json::Value::Bool(true));
        c.entitlements
            .insert("max_layers".into(), serde_json::Value::from(500));
        c
    };
    let active = claims("demo-active", now.add_secs(365 * DAY), 15);
    let frozen = claims("demo-frozen", now.add_secs(-DAY), 14);
    let expired = claims("demo-expired", now.add_secs(-30 * DAY), 14);
    let mut other = claims("demo-other", now.add_secs(365 * DAY), 15);
    let elsewhere =
        Fingerprint::parse("02:00:00:00:00:99|SN-ELSEWHERE|BOARD-ELSEWHERE|CPU-ELSEWHERE")
            .expect("fingerprint");
    other.binding = Some(Binding::new(&elsewhere, [7; 8]));
    for (name, c) in [
        ("active", &active),
        ("frozen", &frozen),
        ("expired", &expired),
        ("other-machine", &other),
    ] {
        let token = mint(&key, c).expect("mint");
        std::fs::write(out.join(format!("{name}.token")), format!("{token}\n")).expect("write");
    }
    std::fs::write(
        out.join("keys.txt"),
        format!("{}\n", key.public_key().to_paserk()),
    )
    .expect("write");
    println!("{}", out.display());
}
