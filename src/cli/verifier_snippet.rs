/// The verifier for this application's licenses. Set the issuer (`licd serve --issuer`) and the
/// marketplace productId.
fn license_verifier() -> Result<client_verifier::Verifier, client_verifier::KeyError> {
    let mut builder = client_verifier::Verifier::builder()
        .issuer("YOUR_ISSUER")
        .product("YOUR_PRODUCT_ID");
    for key in LICENSE_KEYS {
        builder = builder.trust(client_verifier::PublicKey::from_paserk(key)?);
    }
    Ok(builder.build())
}

// Then, for a device-bound license, with a clock guard the application persists between runs
// (client_verifier::TimeGuard::new(last_seen), saved with guard.encode()):
// let device = client_verifier::Fingerprint::collect()?;
// let license = license_verifier()?.verify_now(&token, Some(&device), &mut time_guard)?;
