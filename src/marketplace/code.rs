//! Result codes and the one error type of the protocol.

use std::fmt;

/// The `resultCode` of an answer to the marketplace (protocol §8, §12.4).
///
/// The wire form is always six digits ([`ResultCode::as_str`]); the marketplace reads nothing
/// but `000000` (and `000004` for asynchronous work) as delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// `000000`: done.
    Success,
    /// `000001`: the request's signature or freshness did not check out.
    AuthFailed,
    /// `000002`: a parameter is missing, malformed or unknown.
    InvalidParam,
    /// `000003`: no such instance (renew, expire, release, status change).
    InstanceNotFound,
    /// `000004`: accepted, being processed asynchronously.
    Processing,
    /// `000005`: any other internal error.
    InternalError,
    /// `000100`: `newInstance`: no instance resource available.
    NoInstanceResource,
    /// `000900`: `getLicenseAsync`: the instance's current order has no License quota left.
    QuotaExhausted,
    /// `000901`: `getLicenseAsync`: the requested validity lies outside the current order's.
    OutsideOrderValidity,
    /// `000902`: `getLicenseAsync`: a periodic License needs an expiry time.
    ExpiryRequired,
    /// `000903`: `getLicenseAsync`: a device fingerprint or hardware id is required.
    FingerprintRequired,
}

impl ResultCode {
    /// Every code, in wire order.
    pub const ALL: [ResultCode; 11] = [
        ResultCode::Success,
        ResultCode::AuthFailed,
        ResultCode::InvalidParam,
        ResultCode::InstanceNotFound,
        ResultCode::Processing,
        ResultCode::InternalError,
        ResultCode::NoInstanceResource,
        ResultCode::QuotaExhausted,
        ResultCode::OutsideOrderValidity,
        ResultCode::ExpiryRequired,
        ResultCode::FingerprintRequired,
    ];

    /// The six-digit wire form, e.g. `"000000"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResultCode::Success => "000000",
            ResultCode::AuthFailed => "000001",
            ResultCode::InvalidParam => "000002",
            ResultCode::InstanceNotFound => "000003",
            ResultCode::Processing => "000004",
            ResultCode::InternalError => "000005",
            ResultCode::NoInstanceResource => "000100",
            ResultCode::QuotaExhausted => "000900",
            ResultCode::OutsideOrderValidity => "000901",
            ResultCode::ExpiryRequired => "000902",
            ResultCode::FingerprintRequired => "000903",
        }
    }

    /// The `resultMsg` to send when there is nothing more specific to say.
    ///
    /// `success.` (with the full stop) is what every example in the marketplace documentation answers.
    pub const fn default_message(self) -> &'static str {
        match self {
            ResultCode::Success => "success.",
            ResultCode::AuthFailed => "authentication failed",
            ResultCode::InvalidParam => "invalid request parameter",
            ResultCode::InstanceNotFound => "instance not found",
            ResultCode::Processing => "processing",
            ResultCode::InternalError => "internal error",
            ResultCode::NoInstanceResource => "no instance resource available",
            ResultCode::QuotaExhausted => "the instance's current order has no License quota left",
            ResultCode::OutsideOrderValidity => {
                "apply within the validity period of the current order"
            }
            ResultCode::ExpiryRequired => "a periodic License requires an expiry time",
            ResultCode::FingerprintRequired => "a device fingerprint or hardware id is required",
        }
    }

    /// The code a six-digit wire string names, for clients reading an answer.
    pub fn from_code(code: &str) -> Option<ResultCode> {
        ResultCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A callback the protocol refuses: the result code to answer with and a message naming the
/// offending field (`orderId: missing`).
///
/// The message goes back to the marketplace as `resultMsg` and into logs, so it never contains
/// the access key or anything derived from it (such as the expected signature), and it quotes
/// at most a short prefix of any value the caller sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    /// The `resultCode` to answer with.
    pub code: ResultCode,
    /// What was wrong, naming the field.
    pub message: String,
    /// Which refusal it is, for a caller that says more about one of them.
    pub kind: RefusalKind,
}

/// What a [`ProtocolError`] refuses, beyond its result code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefusalKind {
    /// A well-signed callback whose signed time is too far from the server's clock.
    OutsideWindow,
    /// Anything else.
    #[default]
    Other,
}

impl ProtocolError {
    /// An error with `code` and `message`.
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            kind: RefusalKind::Other,
        }
    }

    /// This error, marked as refusal `kind`.
    pub(super) fn with_kind(self, kind: RefusalKind) -> Self {
        ProtocolError { kind, ..self }
    }

    /// `000001` about `field`.
    pub(super) fn auth(field: &str, what: impl fmt::Display) -> Self {
        ProtocolError::new(ResultCode::AuthFailed, format!("{field}: {what}"))
    }

    /// `000002` about `field`.
    pub(super) fn invalid(field: &str, what: impl fmt::Display) -> Self {
        ProtocolError::new(ResultCode::InvalidParam, format!("{field}: {what}"))
    }
}

/// `value` quoted and escaped for an error message, cut short so a hostile value cannot flood
/// the answer or the log.
pub(super) fn quoted(value: &str) -> String {
    crate::logsafe::quoted(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_have_the_spec_wire_forms() {
        let wire: Vec<&str> = ResultCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            wire,
            [
                "000000", "000001", "000002", "000003", "000004", "000005", "000100", "000900",
                "000901", "000902", "000903"
            ]
        );
    }

    #[test]
    fn result_code_round_trips_through_wire_form() {
        for code in ResultCode::ALL {
            assert_eq!(ResultCode::from_code(code.as_str()), Some(code));
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.default_message().is_empty(), "{code:?}");
        }
        assert_eq!(ResultCode::from_code("0000004"), None);
        assert_eq!(ResultCode::from_code("000006"), None);
        assert_eq!(ResultCode::from_code(""), None);
    }

    #[test]
    fn success_message_matches_spec_examples() {
        assert_eq!(ResultCode::Success.default_message(), "success.");
    }

    #[test]
    fn error_display_is_the_message() {
        let e = ProtocolError::invalid("orderId", "missing");
        assert_eq!(e.to_string(), "orderId: missing");
        assert_eq!(e.code, ResultCode::InvalidParam);
        assert_eq!(
            ProtocolError::auth("authToken", "missing").code,
            ResultCode::AuthFailed
        );
    }

    #[test]
    fn quoted_values_are_escaped_and_cut_on_a_char_boundary() {
        assert_eq!(quoted("a\"b\n"), r#""a\"b\n""#);
        let long = "é".repeat(100);
        let q = quoted(&long);
        assert!(q.len() < 120 && q.ends_with('…'), "{q}");
    }
}
