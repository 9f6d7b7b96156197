//! Answers to the marketplace and their `Body-Sign` header (protocol §3.3).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::code::{ProtocolError, ResultCode};
use super::key::{AccessKey, ct_eq, hmac_sha256};

/// The name of the response header carrying the body signature.
pub const BODY_SIGN_HEADER: &str = "Body-Sign";

/// `resultMsg` is at most 255 characters (protocol §4.1).
const MAX_MESSAGE_CHARS: usize = 255;

/// The body the marketplace gets if serialising an answer ever failed; serde_json cannot fail
/// on a struct of strings, but an answer must go out whatever happens.
const FALLBACK_BODY: &[u8] = br#"{"resultCode":"000005","resultMsg":"internal error"}"#;

/// An answer to a callback: `{"resultCode", "resultMsg", "instanceId"?, "license"?}`, in that
/// order, serialised once when built.
///
/// The body is frozen at construction because the `Body-Sign` header signs the exact bytes
/// sent (protocol §3.3): send [`Response::body`] and sign it with [`Response::body_sign`], never
/// a re-serialisation. `Debug` shows the code and the body's length, not the body, which may
/// hold a license.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    code: ResultCode,
    body: Vec<u8>,
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "resultCode")]
    result_code: &'a str,
    #[serde(rename = "resultMsg")]
    result_msg: &'a str,
    #[serde(rename = "instanceId", skip_serializing_if = "Option::is_none")]
    instance_id: Option<&'a str>,
    #[serde(rename = "license", skip_serializing_if = "Option::is_none")]
    license: Option<&'a str>,
    #[serde(rename = "info", skip_serializing_if = "Option::is_none")]
    info: Option<Vec<InstanceInfo<'a>>>,
}

/// One `InstanceInfo` of a `queryInstance` answer (protocol §12.3.6). `appInfo` (a SaaS
/// front-end URL and credentials) has no meaning for licensed software and is left out.
#[derive(Serialize)]
struct InstanceInfo<'a> {
    #[serde(rename = "instanceId")]
    instance_id: &'a str,
}

impl Response {
    /// An answer with `code`, `message` (cut to 255 characters), and the optional fields.
    pub fn new(
        code: ResultCode,
        message: &str,
        instance_id: Option<&str>,
        license: Option<&str>,
    ) -> Self {
        Response::build(
            code,
            Wire {
                result_code: code.as_str(),
                result_msg: cut_message(message),
                instance_id,
                license,
                info: None,
            },
        )
    }

    /// The success answer to `queryInstance`: an `info` entry per instance.
    pub fn instances<S: AsRef<str>>(ids: &[S]) -> Self {
        let code = ResultCode::Success;
        Response::build(
            code,
            Wire {
                result_code: code.as_str(),
                result_msg: code.default_message(),
                instance_id: None,
                license: None,
                info: Some(
                    ids.iter()
                        .map(|id| InstanceInfo {
                            instance_id: id.as_ref(),
                        })
                        .collect(),
                ),
            },
        )
    }

    fn build(code: ResultCode, wire: Wire<'_>) -> Self {
        let body = serde_json::to_vec(&wire).unwrap_or_else(|_| FALLBACK_BODY.to_vec());
        Response { code, body }
    }

    /// `{"resultCode":"000000","resultMsg":"success."}`.
    pub fn success() -> Self {
        Response::from_code(ResultCode::Success)
    }

    /// An answer with `code` and its default message.
    pub fn from_code(code: ResultCode) -> Self {
        Response::new(code, code.default_message(), None, None)
    }

    /// The answer to a refused callback: its code, its message naming the field.
    pub fn from_error(err: &ProtocolError) -> Self {
        Response::new(err.code, &err.message, None, None)
    }

    /// The result code this answer carries.
    pub fn code(&self) -> ResultCode {
        self.code
    }

    /// The exact bytes to send as the HTTP body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, for handing to the HTTP layer without a copy.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The value of the `Body-Sign` header for this body.
    pub fn body_sign(&self, key: &AccessKey) -> String {
        body_sign_header(key, &self.body)
    }
}

/// `message` cut to [`MAX_MESSAGE_CHARS`] characters.
fn cut_message(message: &str) -> &str {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => &message[..cut],
        None => message,
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("code", &self.code)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The `Body-Sign` header value for `body`, in the documented form (protocol §3.3), spaces
/// included: `sign_type="HMAC-SHA256", signature= "<base64>"`.
///
/// The signature is standard padded Base64 of HMAC-SHA256 keyed with the access key alone (not
/// access key + timeStamp, the usual mistake) over the body bytes as sent.
pub fn body_sign_header(key: &AccessKey, body: &[u8]) -> String {
    let mac = hmac_sha256(key.bytes(), &[body]);
    format!(
        "sign_type=\"HMAC-SHA256\", signature= \"{}\"",
        STANDARD.encode(mac)
    )
}

/// Whether `header_value` is a valid `Body-Sign` of `body` under `key`, for clients (licctl's
/// simulator, tests) checking the daemon's answers the way the marketplace does.
///
/// Accepts the documented spacing and the compact `sign_type="HMAC-SHA256",signature="…"`
/// (protocol §11), in either order; requires `sign_type` to be `HMAC-SHA256`. The comparison is
/// constant-time.
pub fn verify_body_sign(key: &AccessKey, body: &[u8], header_value: &str) -> bool {
    let mut sign_type = None;
    let mut signature = None;
    for part in header_value.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            return false;
        };
        let Some(value) = unquote(value.trim()) else {
            return false;
        };
        let slot = match name.trim() {
            "sign_type" => &mut sign_type,
            "signature" => &mut signature,
            _ => return false,
        };
        if slot.replace(value).is_some() {
            return false;
        }
    }
    if sign_type != Some("HMAC-SHA256") {
        return false;
    }
    let Some(Ok(received)) = signature.map(|s| STANDARD.decode(s)) else {
        return false;
    };
    ct_eq(&received, &hmac_sha256(key.bytes(), &[body]))
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('"')?.strip_suffix('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_KEY: &str = "ebf72724-bacc-414b-a86b-fda5bcc8153c";

    fn key() -> AccessKey {
        AccessKey::new(SPEC_KEY)
    }

    #[test]
    fn body_sign_matches_spec_vector() {
        // Spec §3.8.
        let response = Response::new(
            ResultCode::Success,
            "success.",
            Some("b-1"),
            Some("LIC-123"),
        );
        assert_eq!(
            response.body(),
            br#"{"resultCode":"000000","resultMsg":"success.","instanceId":"b-1","license":"LIC-123"}"#
        );
        assert_eq!(
            response.body_sign(&key()),
            r#"sign_type="HMAC-SHA256", signature= "tTarXlq/uO1KyuwbFm1xa4vBkS+0C6UsyFlqg7/sIo8=""#
        );
    }

    #[test]
    fn body_sign_matches_online_activation_vector() {
        // Spec §12.2.
        let response = Response::from_code(ResultCode::Processing);
        assert_eq!(
            response.body(),
            br#"{"resultCode":"000004","resultMsg":"processing"}"#
        );
        assert_eq!(
            body_sign_header(&key(), response.body()),
            r#"sign_type="HMAC-SHA256", signature= "WFssRiYFRQVkDXxVoSQdnyFKizURM2GDrrGPfaOH4HI=""#
        );
    }

    #[test]
    fn absent_optional_fields_are_left_out() {
        assert_eq!(
            Response::success().body(),
            br#"{"resultCode":"000000","resultMsg":"success."}"#
        );
        assert_eq!(
            Response::new(ResultCode::Success, "success.", Some("i-1"), None).body(),
            br#"{"resultCode":"000000","resultMsg":"success.","instanceId":"i-1"}"#
        );
    }

    #[test]
    fn error_answer_carries_code_and_field_message() {
        let err = ProtocolError::invalid("orderId", "missing");
        let response = Response::from_error(&err);
        assert_eq!(response.code(), ResultCode::InvalidParam);
        assert_eq!(
            response.into_body(),
            br#"{"resultCode":"000002","resultMsg":"orderId: missing"}"#
        );
    }

    #[test]
    fn message_is_json_escaped_and_capped_at_255_characters() {
        let r = Response::new(ResultCode::InvalidParam, "a\"b\\c\n", None, None);
        assert_eq!(
            r.body(),
            br#"{"resultCode":"000002","resultMsg":"a\"b\\c\n"}"#
        );
        let long = "é".repeat(300);
        let r = Response::new(ResultCode::InvalidParam, &long, None, None);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["resultMsg"].as_str().unwrap().chars().count(), 255);
    }

    #[test]
    fn debug_does_not_show_the_license() {
        let r = Response::new(
            ResultCode::Success,
            "success.",
            Some("i"),
            Some("SECRET-TOKEN"),
        );
        let shown = format!("{r:?}");
        assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
        assert!(shown.contains("Success"), "{shown}");
    }

    #[test]
    fn verify_body_sign_accepts_documented_and_compact_spacing() {
        let body = Response::success().into_body();
        let documented = body_sign_header(&key(), &body);
        assert!(verify_body_sign(&key(), &body, &documented));
        let compact = documented.replace(", signature= ", ",signature=");
        assert_ne!(compact, documented);
        assert!(verify_body_sign(&key(), &body, &compact));
        let signature = documented.split_once("signature= ").unwrap().1;
        let reversed = format!("signature={signature}, sign_type=\"HMAC-SHA256\"");
        assert!(verify_body_sign(&key(), &body, &reversed));
    }

    #[test]
    fn verify_body_sign_rejects_tampered_body_and_other_key() {
        let body = Response::success().into_body();
        let header = body_sign_header(&key(), &body);
        for i in 0..body.len() {
            let mut changed = body.clone();
            changed[i] ^= 1;
            assert!(!verify_body_sign(&key(), &changed, &header), "byte {i}");
        }
        let mut padded = body.clone();
        padded.push(b'\n');
        assert!(!verify_body_sign(&key(), &padded, &header));
        assert!(!verify_body_sign(&AccessKey::new("other"), &body, &header));
    }

    #[test]
    fn verify_body_sign_rejects_malformed_headers() {
        let body = Response::success().into_body();
        let header = body_sign_header(&key(), &body);
        let signature = header.split_once("signature= ").unwrap().1;
        for bad in [
            String::new(),
            format!("signature= {signature}"),
            format!("sign_type=\"HMAC-SHA1\", signature= {signature}"),
            format!("sign_type=HMAC-SHA256, signature= {signature}"),
            format!(
                "sign_type=\"HMAC-SHA256\", signature= {}",
                signature.trim_matches('"')
            ),
            format!("sign_type=\"HMAC-SHA256\", signature= {signature}, signature= {signature}"),
            format!("sign_type=\"HMAC-SHA256\", signature= {signature}, extra=\"1\""),
            "sign_type=\"HMAC-SHA256\", signature= \"not base64!\"".to_owned(),
            "sign_type=\"HMAC-SHA256\", signature= \"\"".to_owned(),
        ] {
            assert!(!verify_body_sign(&key(), &body, &bad), "{bad}");
        }
    }
}
