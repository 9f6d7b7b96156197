//! The checked-in C header matches what cbindgen makes from `src/ffi.rs` today, so a change to the
//! C ABI cannot ship with an old header.
//!
//! Regenerate with `CV_REGENERATE_HEADER=1 cargo test -p client-verifier --test ffi_header`.

use std::path::Path;

const HEADER: &str = "include/client_verifier.h";

fn generate() -> String {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml");
    let mut out = Vec::new();
    // Only the ffi module: the rest of the crate has public constants that are not C API.
    cbindgen::Builder::new()
        .with_src(Path::new(crate_dir).join("src/ffi.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not read src/ffi.rs")
        .write(&mut out);
    String::from_utf8(out).expect("cbindgen wrote UTF-8")
}

#[test]
fn checked_in_c_header_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(HEADER);
    let fresh = generate();
    if std::env::var_os("CV_REGENERATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "client-verifier/{HEADER} is stale (the C ABI in src/ffi.rs changed). Regenerate it with\n  \
         CV_REGENERATE_HEADER=1 cargo test -p client-verifier --test ffi_header\n\
         and commit it; bump CV_ABI_VERSION if an existing function or code changed meaning."
    );
}
