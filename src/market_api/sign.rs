//! The API gateway's AK/SK request signature, `SDK-HMAC-SHA256` (protocol §3.6), as pure functions.
//!
//! ```text
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQueryString \n
//!                    CanonicalHeaders \n SignedHeaders \n hex(SHA256(body))
//! StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(SHA256(CanonicalRequest))
//! Signature        = hex(HMAC-SHA256(SK, StringToSign))
//! Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<...>, Signature=<...>
//! ```
//!
//! - CanonicalURI: each `/`-separated segment of the path as sent is percent-decoded and
//!   re-encoded with RFC 3986 unreserved characters left alone, and the result always ends with
//!   `/` (the gateway signs `/a/b/` for a request to `/a/b`).
//! - CanonicalQueryString: `key=value` pairs, both encoded the same way, sorted by key and then by
//!   value (on the decoded text), joined with `&`; empty when there is no query.
//! - CanonicalHeaders: every signed header as `lower-case-name:trimmed-value\n`, sorted by name;
//!   `host` must be among them. SignedHeaders is the same names joined with `;`.
//!
//! The public vector of the marketplace documentation (SK `123`, `POST https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/activate`,
//! headers `Content-Type: application/json`, `x-stage: RELEASE`, `X-Sdk-Date: 20240317T144237Z`,
//! empty body, signature `77595ad6…2053d`) is reproduced byte for byte by the unit tests; the
//! canonical URI it needs is the path with a trailing `/`.
//!
//! The clock is an argument ([`sign`] takes `now`). The secret key is only borrowed; nothing
//! here keeps or prints it.

use client_verifier::Timestamp;
use sha2::{Digest, Sha256};

use crate::crypto::hex;

/// The algorithm name that starts the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// The header carrying the signing time, `yyyyMMdd'T'HHmmss'Z'` in UTC.
pub const DATE_HEADER: &str = "X-Sdk-Date";

/// A request as it will be sent, the parts the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, … (upper-cased when signing).
    pub method: &'a str,
    /// The path as sent on the wire (percent-encoded), starting with `/`; no query.
    pub path: &'a str,
    /// Query parameters, decoded. Send them encoded with [`query_string`].
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign, `Host` included, `X-Sdk-Date` excluded ([`sign`] adds it). Names
    /// must be distinct ignoring case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes.
    pub body: &'a [u8],
}

/// What [`sign`] adds to a request: the two headers to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Value of the `X-Sdk-Date` header.
    pub sdk_date: String,
    /// The `;`-joined lower-case names that were signed.
    pub signed_headers: String,
    /// The hex signature.
    pub signature: String,
    /// Value of the `Authorization` header.
    pub authorization: String,
}

/// Signs `req` with the access key `ak` and secret key `sk` at time `now`.
pub fn sign(req: &Request<'_>, ak: &str, sk: &[u8], now: Timestamp) -> Signed {
    let sdk_date = sdk_date(now);
    let mut headers: Vec<(&str, &str)> = req.headers.to_vec();
    headers.push((DATE_HEADER, &sdk_date));
    let canonical = canonical_request(req.method, req.path, req.query, &headers, req.body);
    let sts = string_to_sign(&sdk_date, &canonical);
    let signature = signature(sk, &sts);
    let signed_headers = signed_headers(&headers);
    let authorization = authorization(ak, &signed_headers, &signature);
    Signed {
        sdk_date,
        signed_headers,
        signature,
        authorization,
    }
}

/// `now` in the `X-Sdk-Date` form, `yyyyMMdd'T'HHmmss'Z'`.
pub fn sdk_date(now: Timestamp) -> String {
    let (y, mo, d, h, mi, s) = now.to_civil();
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The canonical request. `headers` must include `X-Sdk-Date` and `Host`.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri(path),
        canonical_query(query),
        canonical_headers(headers),
        signed_headers(headers),
        hex(&Sha256::digest(body)),
    )
}

/// The string to sign for a canonical request signed at `sdk_date`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// hex(HMAC-SHA256(`sk`, `string_to_sign`)), lower case.
pub fn signature(sk: &[u8], string_to_sign: &str) -> String {
    hex(&crate::crypto::hmac_sha256(
        sk,
        &[string_to_sign.as_bytes()],
    ))
}

/// The `Authorization` header value.
pub fn authorization(ak: &str, signed_headers: &str, signature: &str) -> String {
    format!("{ALGORITHM} Access={ak}, SignedHeaders={signed_headers}, Signature={signature}")
}

/// The path segments decoded and re-encoded, always ending with `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut out = path
        .split('/')
        .map(|seg| encode(&percent_decode(seg)))
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Sorted, encoded `key=value` pairs joined with `&`.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs = query.to_vec();
    pairs.sort();
    query_string(&pairs)
}

/// `key=value` pairs encoded like the canonical query, in the given order: the query string to
/// send, so what is signed and what is sent are the same bytes once sorted.
pub fn query_string(query: &[(&str, &str)]) -> String {
    query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v.as_bytes())))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value\n` for each header, lower-case names, trimmed values, sorted by name.
pub fn canonical_headers(headers: &[(&str, &str)]) -> String {
    let mut lines: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
        .collect();
    lines.sort();
    lines.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
}

/// The sorted lower-case header names joined with `;`.
pub fn signed_headers(headers: &[(&str, &str)]) -> String {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.join(";")
}

/// RFC 3986 percent-encoding: `A-Z a-z 0-9 - _ . ~` stay, every other byte becomes `%XX`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
    out
}

/// `%XX` sequences decoded; a `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex_value(*c)),
                b.get(i + 2).and_then(|c| hex_value(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    const VECTOR_SIGNATURE: &str =
        "77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d";

    fn vector_time() -> Timestamp {
        Timestamp::parse_rfc3339("2024-03-17T14:42:37Z").unwrap()
    }

    /// The Ruby gem `HuaweiCloudStoreGatewaySdk`'s public vector (protocol §3.6): host
    /// `mkt.myhuaweicloud.com`, path `/api/mkp-openapi-public/global/v1/license/activate`.
    #[test]
    fn reproduces_the_public_apig_vector() {
        let req = Request {
            method: "POST",
            path: "/api/mkp-openapi-public/global/v1/license/activate",
            query: &[],
            headers: &[
                ("x-stage", "RELEASE"),
                ("Content-Type", "application/json"),
                ("Host", "mkt.myhuaweicloud.com"),
            ],
            body: b"",
        };
        let s = sign(&req, "test", b"123", vector_time());
        assert_eq!(s.sdk_date, "20240317T144237Z");
        assert_eq!(s.signed_headers, "content-type;host;x-sdk-date;x-stage");
        assert_eq!(s.signature, VECTOR_SIGNATURE);
        assert_eq!(
            s.authorization,
            format!(
                "SDK-HMAC-SHA256 Access=test, SignedHeaders=content-type;host;x-sdk-date;x-stage, Signature={VECTOR_SIGNATURE}"
            )
        );
        // The AK is not part of the signature; the SK is.
        assert_eq!(
            sign(&req, "other", b"123", vector_time()).signature,
            VECTOR_SIGNATURE
        );
        assert_ne!(
            sign(&req, "test", b"124", vector_time()).signature,
            VECTOR_SIGNATURE
        );
    }

    #[test]
    fn vector_canonical_request_has_trailing_slash_and_empty_query() {
        let headers = [
            ("Content-Type", "application/json"),
            ("Host", "mkt.myhuaweicloud.com"),
            ("X-Sdk-Date", "20240317T144237Z"),
            ("x-stage", "RELEASE"),
        ];
        let cr = canonical_request(
            "post",
            "/api/mkp-openapi-public/global/v1/license/activate",
            &[],
            &headers,
            b"",
        );
        assert_eq!(
            cr,
            "POST\n/api/mkp-openapi-public/global/v1/license/activate/\n\n\
             content-type:application/json\nhost:mkt.myhuaweicloud.com\n\
             x-sdk-date:20240317T144237Z\nx-stage:RELEASE\n\n\
             content-type;host;x-sdk-date;x-stage\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Without the trailing slash the vector does not come out: the slash is not optional.
        let sts = string_to_sign("20240317T144237Z", &cr);
        assert_eq!(signature(b"123", &sts), VECTOR_SIGNATURE);
        let no_slash = cr.replacen("activate/\n", "activate\n", 1);
        let sts = string_to_sign("20240317T144237Z", &no_slash);
        assert_ne!(signature(b"123", &sts), VECTOR_SIGNATURE);
    }

    #[test]
    fn canonical_query_sorts_by_key_then_value_and_encodes() {
        let q = [("orderId", "CS 1"), ("b", "2"), ("b", "1"), ("a~", "x/y+z")];
        assert_eq!(canonical_query(&q), "a~=x%2Fy%2Bz&b=1&b=2&orderId=CS%201");
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn canonical_uri_reencodes_segments() {
        assert_eq!(canonical_uri("/a/b"), "/a/b/");
        assert_eq!(canonical_uri("/a/b/"), "/a/b/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/ev%20ent/x y"), "/ev%20ent/x%20y/");
        assert_eq!(canonical_uri("/%7e%41"), "/~A/");
        assert_eq!(canonical_uri("/100%"), "/100%25/");
    }

    #[test]
    fn headers_are_lowercased_trimmed_and_sorted() {
        let h = [("X-B", "  two "), ("a", "one"), ("Host", "h:8080")];
        assert_eq!(canonical_headers(&h), "a:one\nhost:h:8080\nx-b:two\n");
        assert_eq!(signed_headers(&h), "a;host;x-b");
    }

    #[test]
    fn sdk_date_format() {
        assert_eq!(sdk_date(Timestamp::from_unix(0)), "19700101T000000Z");
        assert_eq!(sdk_date(vector_time()), "20240317T144237Z");
    }

    #[test]
    fn hmac_matches_the_reference_for_every_key_length() {
        for len in [0, 1, 40, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x3c).collect();
            let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            reference.update(b"string to sign");
            let expected = hex(&reference.finalize().into_bytes());
            assert_eq!(
                signature(&key, "string to sign"),
                expected,
                "key length {len}"
            );
        }
    }

    #[test]
    fn body_is_hashed() {
        let req = |body: &'static [u8]| Request {
            method: "POST",
            path: "/x",
            query: &[],
            headers: &[("Host", "h")],
            body,
        };
        let a = sign(&req(b"a"), "ak", b"sk", vector_time());
        let b = sign(&req(b"b"), "ak", b"sk", vector_time());
        assert_ne!(a.signature, b.signature);
    }
}
