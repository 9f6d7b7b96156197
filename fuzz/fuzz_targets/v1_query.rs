//! License 1.0 callbacks: `verify_v1` on arbitrary raw query strings, and `parse_v1` behind it.
//!
//! The raw input goes to `verify_v1` as received (it reaches the decoding and the token check;
//! the spec's vector is in the corpus, so the parse behind it is reached too). Then the same
//! parameters are signed with the access key, as the marketplace would, so that every input
//! reaches `parse_v1`.
//!
//! Invariants:
//! - what `sign_v1_query` signs, `verify_v1` accepts, and the verified parameters are the first
//!   value of each name sent; unless a parameter is ambiguous inside the unescaped signed string
//!   (`v1_ambiguous`), which `verify_v1` refuses with `000002`;
//! - `parse_v1` refuses only with `000002`, names the activity it parsed, and every refusal
//!   makes a well-formed signed answer.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use licd_fuzz::marketplace::{
    AccessKey, Params, ProtocolError, Response, ResultCode, parse_v1, sign_v1_query,
    v1_ambiguous, verify_body_sign, verify_v1,
};
use licd_fuzz::{ACCESS_KEY, V1_NOW};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let key = AccessKey::new(ACCESS_KEY);
    match verify_v1(&key, raw, V1_NOW, None) {
        Ok(params) => parse(&key, &params),
        Err(e) => {
            assert!(
                matches!(e.code, ResultCode::AuthFailed | ResultCode::InvalidParam),
                "{e:?}"
            );
            answer(&key, &e);
        }
    }

    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let query = sign_v1_query(&key, &refs, V1_NOW);
    let mut first: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &refs {
        if *k != "timeStamp" && *k != "authToken" {
            first.entry(k).or_insert(v);
        }
    }
    if first.iter().any(|(k, v)| v1_ambiguous(k, v)) {
        let e = verify_v1(&key, &query, V1_NOW, Some(60))
            .expect_err("an ambiguous parameter is refused");
        assert_eq!(e.code, ResultCode::InvalidParam, "{e:?}");
        return;
    }
    let params = verify_v1(&key, &query, V1_NOW, Some(60))
        .unwrap_or_else(|e| panic!("a query signed with the key is refused: {e}\n{query}"));
    for (k, v) in &first {
        assert_eq!(params.get(k), Some(*v), "parameter {k:?}");
    }
    assert_eq!(
        params.len(),
        first.len() + 1,
        "exactly the names sent, and timeStamp"
    );
    assert_eq!(params.timestamp(), V1_NOW);
    parse(&key, &params);
});

fn parse(key: &AccessKey, params: &Params) {
    match parse_v1(params) {
        Ok(callback) => assert_eq!(Some(callback.activity()), params.get("activity")),
        Err(e) => {
            assert_eq!(e.code, ResultCode::InvalidParam, "{e:?}");
            answer(key, &e);
        }
    }
}

/// The refusal becomes a JSON answer whose Body-Sign verifies.
fn answer(key: &AccessKey, e: &ProtocolError) {
    let response = Response::from_error(e);
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).expect("answer body is JSON");
    assert_eq!(body["resultCode"], e.code.as_str());
    assert!(verify_body_sign(
        key,
        response.body(),
        &response.body_sign(key)
    ));
}
